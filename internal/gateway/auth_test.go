package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/authn"
)

func TestChallenges(t *testing.T) {
	up, _ := echoUpstream(t)
	route := func(mode AuthMode) RouteOptions {
		return RouteOptions{Name: "weather-" + string(mode), Path: "/" + string(mode) + "/mcp", Upstream: up.URL, Mode: mode,
			Verifier: testVerifier(t), Scopes: []string{"mcp.tools"}, AuthorizationServers: []string{testIssuer}}
	}
	_, base := newGateway(t, Options{Routes: []RouteOptions{route(ModeStrict), route(ModeOptional), route(ModePermissive)}})
	good := mintToken(t, nil)
	expired := mintToken(t, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})
	noScope := mintToken(t, map[string]any{"scope": "profile email"})
	wrongAud := mintToken(t, map[string]any{"aud": "https://other"})
	md := func(mode string) string {
		return `resource_metadata="` + base + `/.well-known/oauth-protected-resource/` + mode + `/mcp"`
	}

	tests := []struct {
		name, mode, auth, query string
		status                  int
		www                     []string // substrings of WWW-Authenticate ("" = header must be absent)
		bodyErr                 string   // "error" of the JSON body
	}{
		{name: "strict missing", mode: "strict", status: 401, www: []string{`Bearer ` + md("strict"), `scope="mcp.tools"`}, bodyErr: "unauthorized"},
		{name: "strict basic scheme is missing", mode: "strict", auth: "Basic YTpi", status: 401, www: []string{md("strict")}, bodyErr: "unauthorized"},
		{name: "strict malformed", mode: "strict", auth: "Bearer not-a-jwt", status: 401, www: []string{md("strict"), `error="invalid_token"`, `error_description="the token is not a valid RS256 JWT`}, bodyErr: "invalid_token"},
		{name: "strict expired, description quoted safely", mode: "strict", auth: "Bearer " + expired, status: 401, www: []string{`error="invalid_token"`, `error_description="the token expired; sign in again (a 'quoted' / detail)"`}, bodyErr: "invalid_token"},
		{name: "strict wrong audience", mode: "strict", auth: "Bearer " + wrongAud, status: 401, www: []string{`error="invalid_token"`, "another audience"}, bodyErr: "invalid_token"},
		{name: "strict insufficient scope", mode: "strict", auth: "Bearer " + noScope, status: 403, www: []string{`error="insufficient_scope"`, `scope="mcp.tools profile email"`, md("strict")}, bodyErr: "insufficient_scope"},
		{name: "strict ok", mode: "strict", auth: "Bearer " + good, status: 200},
		{name: "strict lowercase bearer ok", mode: "strict", auth: "bearer " + good, status: 200},
		{name: "strict two spaces is no bearer credential", mode: "strict", auth: "Bearer  " + good, status: 401, www: []string{md("strict")}, bodyErr: "unauthorized"},
		{name: "query token refused", mode: "strict", query: "?access_token=" + good, status: 400, www: []string{`error="invalid_request"`, "Authorization: Bearer header"}, bodyErr: "invalid_request"},
		{name: "query token refused even with header", mode: "permissive", auth: "Bearer " + good, query: "?access_token=x", status: 400, bodyErr: "invalid_request"},
		{name: "query token refused under an encoded name", mode: "strict", query: "?other=1&access%5Ftoken=" + good, status: 400, bodyErr: "invalid_request"},
		{name: "optional missing passes", mode: "optional", status: 200},
		{name: "optional bad token rejected", mode: "optional", auth: "Bearer " + expired, status: 401, www: []string{`error="invalid_token"`, md("optional")}, bodyErr: "invalid_token"},
		{name: "optional missing scope rejected", mode: "optional", auth: "Bearer " + noScope, status: 403, www: []string{`error="insufficient_scope"`}, bodyErr: "insufficient_scope"},
		{name: "permissive missing passes", mode: "permissive", status: 200},
		{name: "permissive bad token passes", mode: "permissive", auth: "Bearer " + expired, status: 200},
		{name: "permissive missing scope passes", mode: "permissive", auth: "Bearer " + noScope, status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hdr := map[string]string{}
			if tc.auth != "" {
				hdr["Authorization"] = tc.auth
			}
			resp, body := post(t, base+"/"+tc.mode+"/mcp"+tc.query, initBody, hdr)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tc.status, body)
			}
			www := resp.Header.Get("WWW-Authenticate")
			if len(tc.www) == 0 && tc.status == 200 && www != "" {
				t.Errorf("unexpected WWW-Authenticate %q", www)
			}
			for _, want := range tc.www {
				if !strings.Contains(www, want) {
					t.Errorf("WWW-Authenticate %q lacks %q", www, want)
				}
			}
			if strings.ContainsAny(strings.ReplaceAll(www, `"`, ""), "\\") {
				t.Errorf("unsafe WWW-Authenticate %q", www)
			}
			if tc.bodyErr != "" {
				var b map[string]any
				if err := json.Unmarshal([]byte(body), &b); err != nil {
					t.Fatalf("body %q: %v", body, err)
				}
				if b["error"] != tc.bodyErr || b["error_description"] == "" {
					t.Errorf("body %s, want error %q with a description", body, tc.bodyErr)
				}
				if strings.Contains(body, good) || strings.Contains(body, expired) {
					t.Error("the body repeats the token")
				}
			}
		})
	}
}

// TestVerifierOutcomes: the gateway's behaviour for each kind of verification result.
func TestVerifierOutcomes(t *testing.T) {
	up, _ := echoUpstream(t)
	tests := []struct {
		name   string
		err    error
		status int
		want   string
	}{
		{"rejection invalid_request → 400", &authn.Error{Code: authn.CodeInvalidRequest, Description: "bad header"}, 400, `error="invalid_request"`},
		{"rejection insufficient_scope → 403", &authn.Error{Code: authn.CodeInsufficientScope, Description: "more"}, 403, `error="insufficient_scope"`},
		{"technical failure → 503 without challenge", errors.New("jwks unreachable"), 503, ""},
		{"description with CR/LF and non-ASCII is sanitised", &authn.Error{Code: authn.CodeInvalidToken, Description: "bad\r\nSet-Cookie: x=é"}, 401, `error_description="bad??Set-Cookie: x=?"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := authn.VerifierFunc(func(context.Context, string) (*authn.Principal, error) { return nil, tc.err })
			_, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Verifier: v}}})
			resp, body := post(t, base+"/mcp", initBody, map[string]string{"Authorization": "Bearer x"})
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d want %d: %s", resp.StatusCode, tc.status, body)
			}
			www := resp.Header.Get("WWW-Authenticate")
			if tc.want == "" && www != "" || !strings.Contains(www, tc.want) {
				t.Errorf("WWW-Authenticate %q, want %q", www, tc.want)
			}
			if tc.status == 503 && !strings.Contains(body, `"route":"r"`) {
				t.Errorf("body %s", body)
			}
		})
	}
}

func TestQuoteParam(t *testing.T) {
	for in, want := range map[string]string{
		`plain`:         `"plain"`,
		`a"b\c`:         `"a'b/c"`,
		"x\ny\x7f":      `"x?y?"`,
		"naïve":         `"na?ve"`,
		"mcp.tools a:b": `"mcp.tools a:b"`,
	} {
		if got := quoteParam(in); got != want {
			t.Errorf("quoteParam(%q) = %s, want %s", in, got, want)
		}
	}
}
