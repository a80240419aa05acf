package client

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/internal/jsonlimit"
	"github.com/mcpgate/mcpgate/internal/mcp"
)

// 2026-07-28 requests through the bridge. Over HTTP, every 2026-07-28 request carries
// headers that mirror its body (MCP-Protocol-Version, Mcp-Method, Mcp-Name and, for a
// tools/call, Mcp-Param-* for the arguments the tool's input schema marks with
// x-mcp-header); servers and mcpgate's gateway refuse a request whose headers are missing
// or differ. A stdio client sends no headers, so the bridge makes them from each message:
// the version from the message's _meta, the method and name from its body, and the
// Mcp-Param-* values from the arguments and the tool's bindings, which it learns from the
// tools/list results it relays. For a call to a tool it has not seen listed, it lists the
// tools itself first (at most every toolsRelistInterval), as a client that had listed them
// would know them. Messages of earlier versions are sent as before.

const (
	// toolsRelistInterval bounds how often the bridge lists tools itself.
	toolsRelistInterval = 30 * time.Second
	// maxToolPages bounds the pages of one such listing.
	maxToolPages = 20
)

// toolBindings are the Mcp-Param-* bindings of the server's tools, by name, and when the
// bridge last listed them itself.
type toolBindings struct {
	mcp.ToolParams
	mu       sync.Mutex
	listedAt time.Time // the bridge's own last listing
}

// mayList reports whether the bridge may list the tools itself now, and if so notes it.
func (t *toolBindings) mayList(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.listedAt.IsZero() && now.Sub(t.listedAt) < toolsRelistInterval {
		return false
	}
	t.listedAt = now
	return true
}

// stateless returns the message of line when it is one 2026-07-28 (or later) request or
// notification, by the version in its _meta.
func stateless(line []byte) (*mcp.Request, bool) {
	msgs, batch, err := mcp.ParseRequest(line, jsonlimit.Limits{})
	if err != nil || batch || len(msgs) != 1 || msgs[0].IsResponse() || !mcp.Stateless(msgs[0].MetaProtocolVersion()) {
		return nil, false
	}
	return &msgs[0], true
}

// setMCPHeaders sets the 2026-07-28 headers of the message line on h (nothing for other
// versions).
func (b *Bridge) setMCPHeaders(ctx context.Context, h http.Header, line []byte) {
	m, ok := stateless(line)
	if !ok {
		return
	}
	h.Set(mcp.HeaderProtocolVersion, m.MetaProtocolVersion())
	h.Set(mcp.HeaderMethod, m.Method)
	if mcp.NameMethod(m.Method) {
		h.Set(mcp.HeaderName, mcp.EncodeHeaderValue(m.Name()))
	}
	if m.Method != "tools/call" {
		return
	}
	bindings, known := b.tools.Get(m.Tool)
	if !known && b.tools.mayList(time.Now()) {
		b.listTools(ctx, m)
		bindings, _ = b.tools.Get(m.Tool)
	}
	for k, v := range mcp.ParamHeaders(m, bindings) {
		h.Set(k, v)
	}
}

// noteTools learns the tools' bindings from a tools/list result relayed to the client.
func (b *Bridge) noteTools(h rpcHead, msg []byte) {
	if h.Method != "tools/list" {
		return
	}
	if tools, ok := mcp.ListParamBindings(msg); ok {
		b.tools.Learn(tools)
	}
}

// listTools lists the server's tools on the bridge's own account, with the _meta of the
// message m (its version, client info and capabilities), to learn their bindings. Nothing
// of it reaches the stdio client.
func (b *Bridge) listTools(ctx context.Context, m *mcp.Request) {
	var p struct {
		Meta json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(m.Params, &p) != nil || len(p.Meta) == 0 {
		return
	}
	log := b.log().With("method", "tools/list")
	cursor := ""
	for page := 0; page < maxToolPages; page++ {
		params := map[string]any{"_meta": p.Meta}
		if cursor != "" {
			params["cursor"] = cursor
		}
		body, err := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": "mcpgate-stdio-tools-" + strconv.Itoa(page), "method": "tools/list", "params": params})
		if err != nil {
			return
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.URL, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		b.setHeaders(req)
		req.Header.Set(mcp.HeaderProtocolVersion, m.MetaProtocolVersion())
		req.Header.Set(mcp.HeaderMethod, "tools/list")
		resp, err := b.HTTP.Do(req)
		if err != nil {
			log.Warn("listing tools for their Mcp-Param headers failed", "err", err)
			return
		}
		msg := readOneMessage(resp)
		tools, ok := mcp.ListParamBindings(msg)
		if !ok {
			log.Warn("listing tools for their Mcp-Param headers failed", "status", resp.StatusCode)
			return
		}
		b.tools.Learn(tools)
		var next struct {
			Result struct {
				NextCursor string `json:"nextCursor"`
			} `json:"result"`
		}
		if json.Unmarshal(msg, &next) != nil || next.Result.NextCursor == "" {
			return
		}
		cursor = next.Result.NextCursor
	}
}

// readOneMessage reads the JSON-RPC response of resp: the JSON body, or the first SSE
// event that holds a response. It closes the body.
func readOneMessage(resp *http.Response) []byte {
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil
	}
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		b, err := jsonlimit.Read(resp.Body, maxMCPResponseBytes, jsonlimit.Limits{MaxValues: -1})
		if err != nil {
			return nil
		}
		return b
	}
	r := mcp.NewSSEReader(io.LimitReader(resp.Body, maxMCPResponseBytes), 0)
	for {
		ev, err := r.Next()
		if d := []byte(ev.Data()); ev.HasData() && !ev.Incomplete {
			var h rpcHead
			if json.Unmarshal(d, &h) == nil && h.Method == "" && len(h.ID) > 0 {
				return d
			}
		}
		if err != nil {
			return nil
		}
	}
}
