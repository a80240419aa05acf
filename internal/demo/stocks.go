package demo

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// QuoteArgs are get_quote's arguments.
type QuoteArgs struct {
	Symbol string `json:"symbol" jsonschema:"ticker symbol, e.g. ACME"`
}

// Quote is get_quote's structured result.
type Quote struct {
	Symbol        string  `json:"symbol"`
	Price         float64 `json:"price"`
	Change        float64 `json:"change"`
	ChangePercent float64 `json:"changePercent"`
	Currency      string  `json:"currency"`
}

var symbolRE = regexp.MustCompile(`^[A-Z][A-Z0-9.]{0,9}$`)

// NewStocksServer returns the stock quote demo MCP server.
func NewStocksServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "mcpgate-demo-stocks", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{
		Name:         "get_quote",
		Description:  "Get a (made-up, deterministic) stock quote for a ticker symbol.",
		Annotations:  readOnlyTool("Stock quote"),
		OutputSchema: outputSchema[Quote](),
	}, func(_ context.Context, _ *mcp.CallToolRequest, in QuoteArgs) (*mcp.CallToolResult, Quote, error) {
		sym := strings.ToUpper(strings.TrimSpace(in.Symbol))
		if !symbolRE.MatchString(sym) {
			return nil, Quote{}, fmt.Errorf("symbol %q is not a ticker symbol (1-10 letters, digits or dots, e.g. ACME)", in.Symbol)
		}
		h := hash(sym)
		price := float64(1000+h%49000) / 100
		change := (float64(h>>20%1000) - 500) / 100
		q := Quote{Symbol: sym, Price: price, Change: change, ChangePercent: float64(int(change/price*10000)) / 100, Currency: "USD"}
		text := fmt.Sprintf("%s: %.2f %s (%+.2f, %+.2f%%)", q.Symbol, q.Price, q.Currency, q.Change, q.ChangePercent)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}, q, nil
	})
	return s
}

// Stocks returns the stock quote demo server as a Streamable HTTP handler.
func Stocks(o *Options) http.Handler { return handler(NewStocksServer(), o) }
