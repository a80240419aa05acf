package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/aadsts"
	"github.com/mcpgate/mcpgate/internal/authz"
	"github.com/mcpgate/mcpgate/internal/client"
)

// Step ids of CheckLogin.
const (
	StepLogin  = "login"
	StepTools  = "tools"
	StepHidden = "hidden-tools"
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
		r.skip("skipped: no sign-in", append(tokenSteps, StepTools, StepHidden)...)
		return r
	}
	tok, err := c.Login(ctx, d.Challenge, "", true)
	if err != nil {
		r.fail(StepLogin, "sign-in failed: "+err.Error(), loginFix(err.Error()))
		r.skip("skipped: no sign-in", append(tokenSteps, StepTools, StepHidden)...)
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
			"if tools are expected, the route's policy may hide them from this user (see the next step, or the audit log's decision reasons), or the upstream has none")
	} else {
		r.ok(StepTools, fmt.Sprintf("tools visible to this user (%d): %s", len(names), strings.Join(names, ", ")))
	}
	checkHidden(ctx, r, s)
	return r
}

// checkHidden asks the server which tools its policy hides from this user and why (an
// mcpgate route with policy.explainHidden answers in the tools/list result's _meta).
func checkHidden(ctx context.Context, r *Report, s *mcp.ClientSession) {
	var hidden []authz.Hidden
	explained := false
	params := &mcp.ListToolsParams{Meta: mcp.Meta{authz.ExplainMetaKey: true}}
	for page := 0; page < 100; page++ {
		res, err := s.ListTools(ctx, params)
		if err != nil {
			r.warn(StepHidden, "asking which tools are hidden failed: "+err.Error(), "")
			return
		}
		if raw, ok := res.Meta[authz.HiddenMetaKey]; ok {
			explained = true
			b, _ := json.Marshal(raw)
			var h []authz.Hidden
			if json.Unmarshal(b, &h) == nil {
				hidden = append(hidden, h...)
			}
		}
		if res.NextCursor == "" {
			break
		}
		params.Cursor = res.NextCursor
	}
	switch {
	case !explained:
		r.skip("the server does not say which tools its policy hides from this user (an mcpgate route does with policy.explainHidden: true; an operator can also ask the admin console's policy simulator)", StepHidden)
	case len(hidden) == 0:
		r.ok(StepHidden, "the route's policy hides no tools from this user")
	default:
		var parts []string
		for _, h := range hidden {
			parts = append(parts, h.Name+" ("+h.Reason+")")
		}
		r.warn(StepHidden, fmt.Sprintf("the route hides %d tools from this user: %s", len(hidden), strings.Join(parts, "; ")),
			"if this user should have them, change the rules named (the route's policy.rules) or the user's groups and claims at sign-in; the admin console's policy simulator shows each rule's part")
	}
}

func scopeNote(s string) string {
	if s == "" {
		return ""
	}
	return " (scope " + s + ")"
}

// loginFix turns a sign-in error into a fix, using the AADSTS table when Entra answered.
func loginFix(msg string) string {
	for _, code := range aadsts.Parse(msg) {
		if e, ok := aadsts.Explain(code); ok {
			return fmt.Sprintf("AADSTS%d: %s", code, e.Fix)
		}
	}
	return "run with -v to see each sign-in step; the finding above names the failing request"
}
