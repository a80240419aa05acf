package client

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

func TestDiscovery(t *testing.T) {
	tests := []struct {
		name        string
		prmStyle    string
		issuerPath  string
		asStyle     string
		wantFetched []string
		wantIssuer  string
	}{
		{"header PRM, RFC 8414 at root", "header", "", "rfc8414",
			[]string{"/custom-prm", "/.well-known/oauth-authorization-server"}, ""},
		{"path PRM, OIDC at root", "path", "", "oidc-insert",
			[]string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"}, ""},
		{"root PRM, RFC 8414 path insertion", "root", "/tenant1", "rfc8414",
			[]string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource", "/.well-known/oauth-authorization-server/tenant1"}, "/tenant1"},
		{"OIDC path insertion", "header", "/tenant1", "oidc-insert",
			[]string{"/custom-prm", "/.well-known/oauth-authorization-server/tenant1", "/.well-known/openid-configuration/tenant1"}, "/tenant1"},
		{"OIDC path append (Entra layout)", "header", "/tenant1", "oidc-append",
			[]string{"/custom-prm", "/.well-known/oauth-authorization-server/tenant1", "/.well-known/openid-configuration/tenant1", "/tenant1/.well-known/openid-configuration"}, "/tenant1"},
		{"2025-03-26: no PRM, metadata at root", "none", "", "legacy-root",
			[]string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource", "/.well-known/oauth-authorization-server"}, ""},
		{"2025-03-26: no metadata, default endpoints", "none", "", "legacy-none",
			[]string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource", "/.well-known/oauth-authorization-server"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, func(f *fake) { f.prmStyle, f.issuerPath, f.asStyle = tt.prmStyle, tt.issuerPath, tt.asStyle })
			c := newTestClient(t, f, nil)
			if _, err := login(t, c); err != nil {
				t.Fatalf("login: %v", err)
			}
			_, _, fetched := f.snapshot()
			if !slices.Equal(fetched, tt.wantFetched) {
				t.Fatalf("fetched %q\nwant    %q", fetched, tt.wantFetched)
			}
			e, _ := c.Entry()
			if e.Server.Issuer != f.srv.URL+tt.wantIssuer {
				t.Errorf("issuer = %q", e.Server.Issuer)
			}
			// The token works against the server.
			callWeather(t, c)
		})
	}
}

func callWeather(t *testing.T, c *Client) {
	t.Helper()
	mc := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil)
	s, err := mc.Connect(t.Context(), &mcp.StreamableClientTransport{Endpoint: c.ServerURL(), HTTPClient: c.HTTPClient(), DisableStandaloneSSE: true, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer s.Close()
	res, err := s.CallTool(t.Context(), &mcp.CallToolParams{Name: "get_forecast", Arguments: map[string]any{"city": "Paris", "days": 1}})
	if err != nil || res.IsError {
		t.Fatalf("call: %v %+v", err, res)
	}
}

func TestRefusals(t *testing.T) {
	tests := []struct {
		name    string
		conf    func(*fake)
		opts    func(*Options)
		wantErr string
	}{
		{"PRM resource for another server", func(f *fake) { f.prmResource = "https://evil.example.com/mcp" }, nil, "refusing to sign in"},
		{"no S256 advertised", func(f *fake) { f.noS256 = true }, nil, "--allow-missing-pkce-metadata"},
		{"issuer mismatch", func(f *fake) { f.metaIssuer = "https://other.example" }, nil, "RFC 8414 §3.3"},
		{"no AS metadata at all", func(f *fake) { f.asStyle = "oidc-append" }, nil, "publishes no metadata"},
		{"no registration possible", func(f *fake) { f.noDCR = true }, nil, "--client-id"},
		{"CIMD advertised but no URL and no DCR", func(f *fake) { f.noDCR = true; f.cimd = true }, nil, "--client-metadata-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.conf)
			c := newTestClient(t, f, tt.opts)
			_, err := login(t, c)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
			}
			if az, _, _ := f.snapshot(); len(az) != 0 {
				t.Fatalf("the client was sent to authorize %d times despite the refusal", len(az))
			}
		})
	}
	t.Run("resource mismatch is a typed error", func(t *testing.T) {
		f := newFake(t, func(f *fake) { f.prmResource = "https://evil.example.com/mcp" })
		_, err := login(t, newTestClient(t, f, nil))
		var rm *ResourceMismatchError
		if !errors.As(err, &rm) || rm.Resource != "https://evil.example.com/mcp" {
			t.Fatalf("err = %#v", err)
		}
	})
	t.Run("missing S256 allowed by flag still uses S256", func(t *testing.T) {
		f := newFake(t, func(f *fake) { f.noS256 = true })
		if _, err := login(t, newTestClient(t, f, func(o *Options) { o.AllowMissingPKCEMetadata = true })); err != nil {
			t.Fatal(err)
		}
		az, _, _ := f.snapshot()
		if az[0].Get("code_challenge_method") != "S256" {
			t.Fatalf("authorize = %v", az[0])
		}
	})
}

func TestRegistrationAndAuthMethods(t *testing.T) {
	tests := []struct {
		name          string
		conf          func(*fake)
		opts          func(*Options)
		wantClientID  string // prefix
		wantRegisters int
		wantBasic     bool
		wantPostForm  bool
	}{
		{"DCR public client", nil, nil, "client-", 1, false, false},
		{"DCR with client_secret_basic only", func(f *fake) { f.authMethods = []string{"client_secret_basic"} }, nil, "client-", 1, true, false},
		{"DCR with client_secret_post only", func(f *fake) { f.authMethods = []string{"client_secret_post"} }, nil, "client-", 1, false, true},
		{"pre-registered beats CIMD and DCR", func(f *fake) { f.cimd = true; f.clients["pre"] = "s3cret" },
			func(o *Options) {
				o.ClientID, o.ClientSecret, o.ClientMetadataURL = "pre", "s3cret", "https://app.example/cimd.json"
			}, "pre", 0, true, false},
		{"pre-registered with post", func(f *fake) { f.authMethods = []string{"client_secret_post"}; f.clients["pre"] = "s3cret" },
			func(o *Options) { o.ClientID, o.ClientSecret = "pre", "s3cret" }, "pre", 0, false, true},
		{"CIMD beats DCR", func(f *fake) { f.cimd = true }, func(o *Options) { o.ClientMetadataURL = "https://app.example/cimd.json" }, "https://app.example/cimd.json", 0, false, false},
		{"CIMD URL ignored when not advertised", nil, func(o *Options) { o.ClientMetadataURL = "https://app.example/cimd.json" }, "client-", 1, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.conf)
			c := newTestClient(t, f, tt.opts)
			if _, err := login(t, c); err != nil {
				t.Fatal(err)
			}
			az, toks, _ := f.snapshot()
			if got := az[0].Get("client_id"); !strings.HasPrefix(got, tt.wantClientID) {
				t.Errorf("client_id = %q, want %q", got, tt.wantClientID)
			}
			if len(f.registers) != tt.wantRegisters {
				t.Errorf("registrations = %d, want %d", len(f.registers), tt.wantRegisters)
			}
			if basic := f.tokenAuth[0] != ""; basic != tt.wantBasic {
				t.Errorf("basic auth = %v, want %v", basic, tt.wantBasic)
			}
			if post := toks[0].Get("client_secret") != ""; post != tt.wantPostForm {
				t.Errorf("client_secret in form = %v, want %v", post, tt.wantPostForm)
			}
			if len(f.registers) > 0 {
				gt, _ := f.registers[0]["grant_types"].([]any)
				if !slices.Contains(gt, any("refresh_token")) {
					t.Errorf("DCR grant_types = %v, want refresh_token", gt)
				}
			}
		})
	}
}

func TestResourceAndScope(t *testing.T) {
	tests := []struct {
		name         string
		conf         func(*fake)
		opts         func(*Options)
		wantResource string // "" = absent; "URL" = the server URL
		wantScope    string // "-" = absent
	}{
		{"defaults: PRM resource, no scope", nil, nil, "URL", "-"},
		{"scope from challenge wins over PRM", func(f *fake) { f.challScope = "mcp:basic"; f.prmScopes = []string{"a", "b"} }, nil, "URL", "mcp:basic"},
		{"scope from PRM scopes_supported", func(f *fake) { f.prmScopes = []string{"a", "b"} }, nil, "URL", "a b"},
		{"offline_access only when the AS lists it", func(f *fake) { f.prmScopes = []string{"a"}; f.asScopes = []string{"a", "offline_access"} }, nil, "URL", "a offline_access"},
		{"--scope overrides", func(f *fake) { f.challScope = "x" }, func(o *Options) { o.Scopes = []string{"api://app/mcp.tools"} }, "URL", "api://app/mcp.tools"},
		{"--resource overrides", nil, func(o *Options) { o.Resource = "api://weather-app" }, "api://weather-app", "-"},
		{"--no-resource omits it", nil, func(o *Options) { o.NoResource = true }, "", "-"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.conf)
			c := newTestClient(t, f, tt.opts)
			if _, err := login(t, c); err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(tt.wantResource, "URL", f.URL())
			az, toks, _ := f.snapshot()
			for name, v := range map[string]map[string][]string{"authorize": az[0], "token": toks[0]} {
				got, has := v["resource"]
				if want == "" && has || want != "" && (!has || got[0] != want) {
					t.Errorf("%s resource = %v, want %q", name, got, want)
				}
			}
			got, has := az[0]["scope"]
			if tt.wantScope == "-" && has || tt.wantScope != "-" && (!has || got[0] != tt.wantScope) {
				t.Errorf("scope = %v, want %q", got, tt.wantScope)
			}
		})
	}
}

func TestStepUp(t *testing.T) {
	t.Run("re-authorizes with the challenged scope", func(t *testing.T) {
		f := newFake(t, func(f *fake) { f.challScope = "mcp:read"; f.needScope = "mcp:write" })
		c := newTestClient(t, f, nil)
		callWeather(t, c)
		az, _, _ := f.snapshot()
		if len(az) != 2 || az[0].Get("scope") != "mcp:read" || az[1].Get("scope") != "mcp:read mcp:write" {
			t.Fatalf("authorizations = %v", az)
		}
	})
	t.Run("at most 3 authorization attempts", func(t *testing.T) {
		f := newFake(t, func(f *fake) { f.neverEnough = true; f.challScope = "mcp:read" })
		c := newTestClient(t, f, nil)
		req, _ := http.NewRequest(http.MethodPost, f.URL(), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		resp, err := c.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Fatalf("status = %d", resp.StatusCode)
		}
		if az, _, _ := f.snapshot(); len(az) != 3 {
			t.Fatalf("authorizations = %d, want 3", len(az))
		}
	})
}

func TestRefreshSendsResource(t *testing.T) {
	f := newFake(t, func(f *fake) { f.ttl = 2 * time.Second })
	c := newTestClient(t, f, func(o *Options) { o.RefreshBefore = 5 * time.Second })
	first, err := login(t, c)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := c.Token(context.Background()) // within RefreshBefore of expiry: refreshes
	if err != nil || tok == nil {
		t.Fatalf("token: %v %v", tok, err)
	}
	if tok.AccessToken == first.AccessToken || tok.RefreshToken == first.RefreshToken {
		t.Fatalf("token was not refreshed (and rotated)")
	}
	_, toks, _ := f.snapshot()
	last := toks[len(toks)-1]
	if last.Get("grant_type") != "refresh_token" || last.Get("resource") != f.URL() {
		t.Fatalf("refresh request = %v, want resource %s", last, f.URL())
	}
	e, _ := c.Entry()
	if e.Token.AccessToken != tok.AccessToken {
		t.Fatal("refreshed token not cached")
	}
	// A 401 with an expired token triggers a refresh, not a new authorization.
	time.Sleep(2100 * time.Millisecond)
	callWeather(t, c)
	if az, _, _ := f.snapshot(); len(az) != 1 {
		t.Fatalf("authorizations = %d, want 1 (refresh instead)", len(az))
	}
}

func TestCacheFileModes(t *testing.T) {
	f := newFake(t, nil)
	dir := filepath.Join(t.TempDir(), "tokens")
	c := newTestClient(t, f, func(o *Options) { o.CacheDir = dir })
	if _, err := login(t, c); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode = %v, %v", st.Mode(), err)
	}
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, de := range entries {
		info, _ := de.Info()
		if info.Mode().Perm() != 0o600 {
			t.Errorf("%s mode = %v, want 0600", de.Name(), info.Mode().Perm())
		}
		if strings.HasSuffix(de.Name(), ".json") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("cache files = %v", entries)
	}
	e, _ := c.Entry()
	if had, err := c.Logout(context.Background()); !had || err != nil {
		t.Fatalf("logout = %v %v", had, err)
	}
	if len(f.revoked) != 1 || f.revoked[0].Get("token") != e.Token.RefreshToken || f.revoked[0].Get("token_type_hint") != "refresh_token" {
		t.Fatalf("revocations = %v", f.revoked)
	}
	if e, _ := c.Entry(); e != nil {
		t.Fatal("entry survived logout")
	}
}

// Two concurrent sign-ins for the same server: one browser flow, both signed in.
func TestConcurrentLogins(t *testing.T) {
	f := newFake(t, nil)
	dir := t.TempDir()
	var browsers sync.WaitGroup
	var mu sync.Mutex
	opened := 0
	slowBrowser := func(ctx context.Context, u string) error {
		mu.Lock()
		opened++
		mu.Unlock()
		browsers.Add(1)
		go func() { // the user takes a moment to sign in
			defer browsers.Done()
			time.Sleep(300 * time.Millisecond)
			FollowRedirects(context.Background(), u)
		}()
		return nil
	}
	var wg sync.WaitGroup
	toks := make([]*Token, 2)
	errs := make([]error, 2)
	for i := range 2 {
		c := newTestClient(t, f, func(o *Options) { o.CacheDir = dir; o.OpenURL = slowBrowser; o.RedirectPort = 0 })
		wg.Go(func() { toks[i], errs[i] = login(t, c) })
	}
	wg.Wait()
	browsers.Wait()
	for i := range 2 {
		if errs[i] != nil {
			t.Fatalf("login %d: %v", i, errs[i])
		}
	}
	if toks[0].AccessToken != toks[1].AccessToken {
		t.Fatal("the two logins ended with different tokens")
	}
	if az, _, _ := f.snapshot(); len(az) != 1 || opened != 1 {
		t.Fatalf("authorizations = %d, browsers opened = %d; want 1 each", len(az), opened)
	}
}

// TestLoginResponseIssuer: mcpgate login checks the iss of the authorization response
// (RFC 9207) when the response carries one or the server advertises it, and refuses a
// mismatch before redeeming the code.
func TestLoginResponseIssuer(t *testing.T) {
	tests := []struct {
		name      string
		configure func(f *fake)
		wantErr   string
	}{
		{"no iss, not advertised", func(f *fake) {}, ""},
		{"right iss, advertised", func(f *fake) { f.issAdvert = true; f.respIss = "self" }, ""},
		{"right iss, not advertised", func(f *fake) { f.respIss = "self" }, ""},
		{"wrong iss, advertised", func(f *fake) { f.issAdvert = true; f.respIss = "https://evil.example" }, `came from issuer "https://evil.example"`},
		{"wrong iss, not advertised", func(f *fake) { f.respIss = "https://evil.example" }, `came from issuer "https://evil.example"`},
		{"missing iss, advertised", func(f *fake) { f.issAdvert = true }, "has no iss although"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.configure)
			c := newTestClient(t, f, nil)
			tok, err := login(t, c)
			if tt.wantErr == "" {
				if err != nil || tok == nil {
					t.Fatalf("login: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("login error = %v, want one containing %q", err, tt.wantErr)
			}
			if _, ok := errors.AsType[*IssuerMismatchError](err); !ok {
				t.Errorf("error %T is not an *IssuerMismatchError", err)
			}
			if _, toks, _ := f.snapshot(); len(toks) != 0 {
				t.Errorf("the code was redeemed (%d token requests) despite the iss mismatch", len(toks))
			}
		})
	}
}

func TestCallbackState(t *testing.T) {
	cb, err := listenCallback(0)
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	cb.Expect("good-state", "", false)
	get := func(q string) int {
		resp, err := http.Get(cb.RedirectURI() + "?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		query string
		want  int
	}{
		{"code=x", 400},
		{"code=x&state=bad", 400},
		{"code=abc&state=good-state", 200},
		{"code=again&state=good-state", 400}, // single use
	}
	for _, tt := range tests {
		if got := get(tt.query); got != tt.want {
			t.Errorf("%s: status %d, want %d", tt.query, got, tt.want)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if code, err := cb.Wait(ctx); code != "abc" || err != nil {
		t.Fatalf("code = %q, %v", code, err)
	}
}

func TestCanonicalResource(t *testing.T) {
	tests := []struct{ in, want string }{
		{"HTTPS://Example.COM/mcp/", "https://example.com/mcp"},
		{"https://example.com/", "https://example.com"},
		{"https://example.com/mcp#frag", "https://example.com/mcp"},
		{"http://127.0.0.1:8080/a/mcp?x=1", "http://127.0.0.1:8080/a/mcp?x=1"},
	}
	for _, tt := range tests {
		if got, err := CanonicalResource(tt.in); got != tt.want || err != nil {
			t.Errorf("%s = %q %v, want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"ftp://x/y", "/relative", "::"} {
		if _, err := CanonicalResource(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	matches := []struct {
		prm, server string
		want        bool
	}{
		{"https://a.example/mcp", "https://A.example/mcp/", true},
		{"https://a.example", "https://a.example/mcp", true},
		{"https://a.example/mc", "https://a.example/mcp", false},
		{"https://evil.example.com/mcp", "https://a.example/mcp", false},
	}
	for _, m := range matches {
		if got := resourceMatches(m.prm, m.server); got != m.want {
			t.Errorf("resourceMatches(%s, %s) = %v", m.prm, m.server, got)
		}
	}
}

func TestDeviceFlow(t *testing.T) {
	f := newFake(t, func(f *fake) { f.device = true; f.prmScopes = []string{"mcp:tools"} })
	var prompt strings.Builder
	c := newTestClient(t, f, func(o *Options) { o.Device = true; o.Prompt = &prompt })
	if _, err := login(t, c); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(prompt.String(), "ABCD-EFGH") || !strings.Contains(prompt.String(), "/activate") {
		t.Fatalf("prompt = %q", prompt.String())
	}
	az, toks, _ := f.snapshot()
	if len(az) != 0 || f.devicePolls != 2 {
		t.Fatalf("authorize calls = %d, polls = %d", len(az), f.devicePolls)
	}
	if f.deviceReqs[0].Get("resource") != f.URL() || f.deviceReqs[0].Get("scope") != "mcp:tools" || toks[len(toks)-1].Get("resource") != f.URL() {
		t.Fatalf("device request %v / token request %v lack resource or scope", f.deviceReqs[0], toks[len(toks)-1])
	}
	gt, _ := f.registers[0]["grant_types"].([]any)
	if !slices.Contains(gt, any("urn:ietf:params:oauth:grant-type:device_code")) {
		t.Errorf("DCR grant_types = %v", gt)
	}
	callWeather(t, c)
}

func TestCheckEndpoints(t *testing.T) {
	tests := []struct {
		m       ServerMetadata
		wantErr bool
	}{
		{ServerMetadata{AuthorizationEndpoint: "https://as.example/a", TokenEndpoint: "https://as.example/t"}, false},
		{ServerMetadata{AuthorizationEndpoint: "http://127.0.0.1:9/a", TokenEndpoint: "http://localhost:9/t"}, false},
		{ServerMetadata{AuthorizationEndpoint: "https://as.example/a", TokenEndpoint: "http://as.example/t"}, true},
		{ServerMetadata{AuthorizationEndpoint: "https://as.example/a", TokenEndpoint: "https://as.example/t", RegistrationEndpoint: "javascript:alert(1)"}, true},
	}
	for _, tt := range tests {
		if err := tt.m.checkEndpoints(); (err != nil) != tt.wantErr {
			t.Errorf("%+v: err = %v", tt.m, err)
		}
	}
}

func TestDecodeClaims(t *testing.T) {
	tests := []struct {
		tok     string
		wantSub string
		wantErr bool
	}{
		{"eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSIsImF1ZCI6Imh0dHA6Ly94In0.", "alice", false},
		{"eyJhbGciOiJub25lIn0.eyJzdWIiOiJib2IifQ==.sig", "bob", false},
		{"opaque-token", "", true},
		{"a.!!!.c", "", true},
		{"a.bm90IGpzb24.c", "", true},
	}
	for _, tt := range tests {
		m, err := DecodeClaims(tt.tok)
		if (err != nil) != tt.wantErr || (err == nil && m["sub"] != tt.wantSub) {
			t.Errorf("%s: %v %v", tt.tok, m, err)
		}
	}
}

// An explicit login with an expired access token but a valid refresh token refreshes instead
// of opening the browser; --force always signs in again.
func TestLoginPrefersRefresh(t *testing.T) {
	f := newFake(t, func(f *fake) { f.ttl = time.Second })
	c := newTestClient(t, f, nil)
	if _, err := login(t, c); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond)
	if _, err := login(t, c); err != nil {
		t.Fatal(err)
	}
	az, toks, _ := f.snapshot()
	if len(az) != 1 || toks[len(toks)-1].Get("grant_type") != "refresh_token" {
		t.Fatalf("authorizations = %d, last grant = %s", len(az), toks[len(toks)-1].Get("grant_type"))
	}
	if _, err := c.Login(context.Background(), Challenge{}, "", true); err != nil {
		t.Fatal(err)
	}
	if az, _, _ := f.snapshot(); len(az) != 2 {
		t.Fatalf("--force: authorizations = %d, want 2", len(az))
	}
}
