package doctor

import (
	"context"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/client"
)

// Step ids of CheckLogin.
const (
	StepLogin = "login"
	StepTools = "tools"
)

// CheckLogin signs in to the server CheckURL discovered (with copts, the options of mcpgate
// login), checks the token received with CheckToken, and lists the tools with it. The token is
// kept in the client's cache like any sign-in, and never printed.
func CheckLogin(ctx context.Context, d *Discovery, copts client.Options, o Options) *Report {
	r := &Report{}
	copts.ServerURL = d.ServerURL
	if copts.HTTPClient == nil {
		copts.HTTPClient = o.HTTPClient
	}
	c, err := client.New(copts)
	if err != nil {
		r.fail(StepLogin, err.Error(), "fix the sign-in options")
		r.skip("skipped: no sign-in", append(tokenSteps, StepTools)...)
		return r
	}
	tok, err := c.Login(ctx, d.Challenge, "", true)
	if err != nil {
		r.fail(StepLogin, "sign-in failed: "+err.Error(), loginFix(err.Error()))
		r.skip("skipped: no sign-in", append(tokenSteps, StepTools)...)
		return r
	}
	r.ok(StepLogin, "signed in; received a "+orNone(tok.TokenType)+" token"+scopeNote(tok.Scope))
	if t, err := TargetFromDiscovery(d); err == nil {
		r.Append(CheckToken(ctx, tok.AccessToken, t, o))
	} else {
		r.skip("skipped: "+err.Error(), tokenSteps...)
	}

	mc := mcp.NewClient(&mcp.Implementation{Name: "mcpgate-doctor", Version: "1"}, nil)
	s, err := mc.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: d.ServerURL, HTTPClient: c.HTTPClient(), DisableStandaloneSSE: true, MaxRetries: -1}, nil)
	if err != nil {
		r.fail(StepTools, "connecting with the token failed: "+err.Error(), "see the token steps above; the gateway's 401/403 says why in its WWW-Authenticate error_description")
		return r
	}
	defer s.Close()
	var names []string
	for t, err := range s.Tools(ctx, nil) {
		if err != nil {
			r.fail(StepTools, "tools/list failed: "+err.Error(), "check the upstream MCP server and the gateway's log for this request")
			return r
		}
		names = append(names, t.Name)
	}
	if len(names) == 0 {
		r.warn(StepTools, "tools/list returned no tools for this user",
			"if tools are expected, the route's policy may hide them from this user (mcpgate: see the audit log's decision reasons), or the upstream has none")
		return r
	}
	r.ok(StepTools, fmt.Sprintf("tools visible to this user (%d): %s", len(names), strings.Join(names, ", ")))
	return r
}

func scopeNote(s string) string {
	if s == "" {
		return ""
	}
	return " (scope " + s + ")"
}

// loginFix turns a sign-in error into a fix, using the AADSTS table when Entra answered.
func loginFix(msg string) string {
	for _, code := range ParseAADSTS(msg) {
		if e, ok := AADSTS(code); ok {
			return fmt.Sprintf("AADSTS%d: %s", code, e.Fix)
		}
	}
	return "run with -v to see each sign-in step; the finding above names the failing request"
}
