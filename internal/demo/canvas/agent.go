package canvas

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// agent is the demo agent behind the canvas: it greets, and for anything else it needs
// the user — it sends an OAuth card, and on the signin/tokenExchange invoke it exchanges
// the canvas token On-Behalf-Of the user and calls an MCP tool through mcpgate's gateway.
type agent struct {
	o   Options
	log *slog.Logger
}

var bot = Account{ID: "mcpgate-demo-agent", Name: "mcpgate demo agent", Role: "bot"}

// oauthCardType is the Bot Framework OAuth card's content type.
const oauthCardType = "application/vnd.microsoft.card.oauth"

func (a *agent) say(c *conversation, text string) {
	c.add(Activity{Type: "message", From: bot, Text: text})
}

// onActivity handles a message or event from the page.
func (a *agent) onActivity(ctx context.Context, c *conversation, act Activity) {
	switch {
	case act.Type == "event" && act.Name == "startConversation":
		a.say(c, "Hello! I am a small agent inside mcpgate. Ask me something that needs a tool — e.g. \"who am I?\" — and I will call "+
			"the "+a.o.Tool+" tool through mcpgate's gateway as you.")
	case act.Type == "message":
		text := strings.TrimSpace(act.Text)
		if l := strings.ToLower(text); l == "hi" || l == "hello" || text == "" {
			a.say(c, "Hi! Ask me who you are: I will look it up through mcpgate as you.")
			return
		}
		// A tool is needed, and with it the user: ask for a token with an OAuth card
		// carrying a tokenExchangeResource, so that an SSO-capable canvas can answer
		// silently (signin/tokenExchange) instead of showing the card.
		c.mu.Lock()
		c.pendingText = text
		c.exchangeID = randHex(8)
		id := c.exchangeID
		c.mu.Unlock()
		c.add(Activity{Type: "message", From: bot, Attachments: []Attachment{{ContentType: oauthCardType, Content: map[string]any{
			"text":           "Please sign in so that I can use mcpgate's tools as you.",
			"connectionName": a.o.ConnectionName,
			"tokenExchangeResource": map[string]string{
				"id": id, "uri": a.o.AgentScope, "providerId": a.o.ProviderID,
			},
			"buttons": []map[string]string{{"type": "signin", "title": "Sign in", "value": a.o.BaseURL + "/canvas/?signin=1"}},
		}}}})
	}
}

// tokenExchange is the value of a signin/tokenExchange invoke.
type tokenExchange struct {
	ID             string `json:"id"`
	ConnectionName string `json:"connectionName"`
	Token          string `json:"token"`
}

// invoke handles signin/tokenExchange: 200 when the token was exchanged (the answer then
// arrives as a message), 412 with a failureDetail otherwise — the Bot Framework's
// TokenExchangeInvokeResponse, on which the channel shows the OAuth card.
func (a *agent) invoke(ctx context.Context, c *conversation, act Activity) (int, any) {
	if act.Name != "signin/tokenExchange" {
		return http.StatusNotImplemented, map[string]string{"error": "unsupported invoke " + act.Name}
	}
	var v tokenExchange
	_ = json.Unmarshal(act.Value, &v)
	fail := func(detail string, err error) (int, any) {
		a.log.WarnContext(ctx, "canvas agent: token exchange failed; the canvas shows the sign-in card", "reason", detail, "err", err)
		return http.StatusPreconditionFailed, map[string]string{"id": v.ID, "connectionName": v.ConnectionName, "failureDetail": detail}
	}
	c.mu.Lock()
	want, text := c.exchangeID, c.pendingText
	c.mu.Unlock()
	if v.ID == "" || v.ID != want || v.Token == "" {
		return fail("the invoke does not answer this conversation's sign-in card", nil)
	}
	if azp := clientOf(v.Token); strings.EqualFold(azp, a.o.AgentClientID) {
		// Copilot Studio's rule: the canvas has its own app registration.
		return fail("the token was issued to the agent's own app registration; the canvas needs its own", nil)
	}
	userToken, err := a.exchange(ctx, v.Token)
	if err != nil {
		return fail("On-Behalf-Of exchange failed", err)
	}
	c.mu.Lock()
	c.exchangeID, c.pendingText = "", ""
	c.mu.Unlock()
	go a.answer(context.WithoutCancel(ctx), c, text, userToken)
	return http.StatusOK, nil
}

// exchange is the On-Behalf-Of request to the Entra (emulator) token endpoint — what
// Copilot Studio's "Token Exchange URL" setting makes the Bot Framework token service do.
func (a *agent) exchange(ctx context.Context, assertion string) (string, error) {
	form := url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "requested_token_use": {"on_behalf_of"},
		"client_id": {a.o.AgentClientID}, "client_secret": {a.o.AgentSecret}, "assertion": {assertion}, "scope": {a.o.ToolScope}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.o.Authority+"/"+a.o.Tenant+"/oauth2/v2.0/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := a.o.HTTPClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
		SubError    string `json:"suberror"`
		Codes       []int  `json:"error_codes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return "", fmt.Errorf("reading the token answer (%d): %w", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return "", fmt.Errorf("entra answered %d %s %s %v", resp.StatusCode, body.Error, body.SubError, body.Codes)
	}
	return body.AccessToken, nil
}

// answer calls the tool through the gateway with the user's token and posts the result.
func (a *agent) answer(ctx context.Context, c *conversation, question, token string) {
	out, err := a.callTool(ctx, token)
	if err != nil {
		a.log.WarnContext(ctx, "canvas agent: tool call failed", "tool", a.o.Tool, "err", err)
		a.say(c, "I could not call "+a.o.Tool+" through mcpgate: "+err.Error())
		return
	}
	a.say(c, "You asked: \""+question+"\". I called "+a.o.Tool+" through mcpgate as you; the MCP server saw:\n\n"+out)
}

type bearer struct {
	token string
	base  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.base.RoundTrip(r)
}

func (a *agent) callTool(ctx context.Context, token string) (string, error) {
	base := a.o.HTTPClient.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc := &http.Client{Timeout: a.o.HTTPClient.Timeout, Transport: bearer{token: token, base: base}}
	cl := mcp.NewClient(&mcp.Implementation{Name: "mcpgate-canvas-agent", Version: "1.0.0"}, nil)
	sess, err := cl.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: a.o.ToolURL, HTTPClient: hc, DisableStandaloneSSE: true}, nil)
	if err != nil {
		return "", fmt.Errorf("connecting to %s: %w", a.o.ToolURL, err)
	}
	defer sess.Close()
	res, err := sess.CallTool(ctx, &mcp.CallToolParams{Name: a.o.Tool})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, ct := range res.Content {
		if t, ok := ct.(*mcp.TextContent); ok {
			b.WriteString(t.Text)
		}
	}
	if res.IsError {
		return "", errors.New(b.String())
	}
	return b.String(), nil
}

// clientOf is the client a token was issued to (azp, or appid in v1), read without
// verification: the exchange verifies the token.
func clientOf(tok string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var c struct{ Azp, Appid string }
	_ = json.Unmarshal(b, &c)
	if c.Azp != "" {
		return c.Azp
	}
	return c.Appid
}
