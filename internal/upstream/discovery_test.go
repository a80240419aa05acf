package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/secrets"
	"github.com/mcpgate/mcpgate/internal/store"
)

// metadataServer serves an MCP server's protected resource metadata and an authorization
// server's metadata from one loopback server, as documents the test shapes.
type metadataServer struct {
	URL       string
	prm       func(base string) map[string]any
	as        func(base string) map[string]any
	regs      atomic.Int32
	refreshes atomic.Int32
	mu        sync.Mutex
	rt        string // the current (rotating) refresh token
	resources []string
}

func newMetadataServer(t *testing.T, prm, as func(base string) map[string]any) *metadataServer {
	t.Helper()
	m := &metadataServer{prm: prm, as: as}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		base := "http://" + r.Host
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/.well-known/oauth-protected-resource/mcp":
			json.NewEncoder(w).Encode(m.prm(base))
		case "/.well-known/oauth-authorization-server":
			json.NewEncoder(w).Encode(m.as(base))
		case "/register":
			m.regs.Add(1)
			var req map[string]any
			json.NewDecoder(r.Body).Decode(&req)
			w.WriteHeader(http.StatusCreated)
			json.NewEncoder(w).Encode(map[string]any{"client_id": "dcr-client-1", "redirect_uris": req["redirect_uris"], "token_endpoint_auth_method": "none"})
		case "/token":
			r.ParseForm()
			m.mu.Lock()
			defer m.mu.Unlock()
			if r.PostForm.Get("grant_type") != "refresh_token" || r.PostForm.Get("refresh_token") != m.rt {
				w.WriteHeader(http.StatusBadRequest)
				json.NewEncoder(w).Encode(map[string]any{"error": "invalid_grant"})
				return
			}
			n := m.refreshes.Add(1)
			m.rt = fmt.Sprintf("rt-%d", n)
			m.resources = append(m.resources, r.PostForm.Get("resource"))
			json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("at-%d", n), "refresh_token": m.rt, "token_type": "Bearer", "expires_in": 3600})
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	m.URL = srv.URL
	return m
}

func goodPRM(base string) map[string]any {
	return map[string]any{"resource": base + "/mcp", "authorization_servers": []string{base}, "scopes_supported": []string{"files.read"}}
}

func goodAS(base string) map[string]any {
	return map[string]any{"issuer": base, "authorization_endpoint": base + "/authorize", "token_endpoint": base + "/token",
		"registration_endpoint": base + "/register", "code_challenge_methods_supported": []string{"S256"}, "scopes_supported": []string{"files.read", "offline_access"}}
}

func discoveredConnections(t *testing.T, st ConnectionStore, keys *secrets.Keyring, app OAuthApp) *Connections {
	t.Helper()
	cs, err := NewConnections(ConnectionsConfig{Apps: []OAuthApp{app}, Store: st, Keys: keys, BaseURL: "https://gw.example/connections", Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// Without client ID metadata document support, mcpgate registers once (RFC 7591) and
// every replica sharing the store uses that registration.
func TestDiscoveryRegistersOnceAcrossReplicas(t *testing.T) {
	ms := newMetadataServer(t, goodPRM, goodAS)
	st := store.NewMemory()
	app := OAuthApp{Name: "files", MCPServer: ms.URL + "/mcp", MetadataHosts: []string{"127.0.0.1"}}
	var ids []string
	keys := newKeyring(t, "k1") // replicas share the sealing keys
	for range 2 {
		cs := discoveredConnections(t, st, keys, app)
		a, err := cs.resolve(context.Background(), cs.apps["files"])
		if err != nil {
			t.Fatal(err)
		}
		if a.AuthorizeURL != ms.URL+"/authorize" || a.TokenURL != ms.URL+"/token" || a.Resource != ms.URL+"/mcp" || a.Issuer != ms.URL {
			t.Fatalf("discovered %+v", a.OAuthApp)
		}
		if strings.Join(a.Scopes, " ") != "files.read offline_access" {
			t.Fatalf("scopes = %v", a.Scopes)
		}
		ids = append(ids, a.ClientID)
	}
	if ids[0] != "dcr-client-1" || ids[1] != ids[0] || ms.regs.Load() != 1 {
		t.Fatalf("client ids %v after %d registrations, want one registration used by both", ids, ms.regs.Load())
	}
	if recs, _ := st.ListConnections(context.Background(), "alice"); len(recs) != 0 {
		t.Fatalf("the registration shows among a user's connections: %v", recs)
	}
}

// Discovery refuses what it must not trust, and says why.
func TestDiscoveryRefusals(t *testing.T) {
	for _, tc := range []struct {
		name  string
		prm   func(string) map[string]any
		as    func(string) map[string]any
		hosts []string
		cimd  bool
		want  string
	}{
		{name: "resource of another server", prm: func(b string) map[string]any {
			m := goodPRM(b)
			m["resource"] = "https://evil.example/mcp"
			return m
		}, want: "names resource"},
		{name: "authorization server off the allow-list", prm: func(b string) map[string]any {
			m := goodPRM(b)
			m["authorization_servers"] = []string{strings.Replace(b, "127.0.0.1", "localhost", 1)}
			return m
		}, want: "not in the allowed metadata hosts"},
		{name: "issuer mismatch", as: func(b string) map[string]any {
			m := goodAS(b)
			m["issuer"] = "https://other.example"
			return m
		}, want: "names issuer"},
		{name: "no PKCE", as: func(b string) map[string]any {
			m := goodAS(b)
			delete(m, "code_challenge_methods_supported")
			return m
		}, want: "S256"},
		{name: "token endpoint elsewhere", as: func(b string) map[string]any {
			m := goodAS(b)
			m["token_endpoint"] = "https://token.elsewhere.example/token"
			return m
		}, want: "list its host in metadataHosts"},
		{name: "no way to register", as: func(b string) map[string]any {
			m := goodAS(b)
			delete(m, "registration_endpoint")
			return m
		}, want: "neither client ID metadata documents nor dynamic client registration"},
		{name: "loopback not listed", hosts: []string{"mcp.example.com"}, want: "not in the allowed metadata hosts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prm, as := goodPRM, goodAS
			if tc.prm != nil {
				prm = tc.prm
			}
			if tc.as != nil {
				as = tc.as
			}
			ms := newMetadataServer(t, prm, as)
			hosts := tc.hosts
			if hosts == nil {
				hosts = []string{"127.0.0.1"}
			}
			cs := discoveredConnections(t, store.NewMemory(), newKeyring(t, "k1"), OAuthApp{Name: "files", MCPServer: ms.URL + "/mcp", MetadataHosts: hosts})
			_, err := cs.resolve(context.Background(), cs.apps["files"])
			var f *Failure
			if !errors.As(err, &f) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want a failure saying %q", err, tc.want)
			}
		})
	}
	// A loopback MCP server is refused unless metadataHosts names it.
	_, err := NewConnections(ConnectionsConfig{Apps: []OAuthApp{{Name: "files", MCPServer: "http://127.0.0.1:1/mcp"}}, Store: store.NewMemory(), Keys: newKeyring(t, "k1"), BaseURL: "https://gw.example/connections"})
	if err == nil || !strings.Contains(err.Error(), "metadataHosts") {
		t.Fatalf("loopback mcpServer without metadataHosts: %v", err)
	}
}

func TestParseBearerChallenge(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want BearerChallenge
		ok   bool
	}{
		{`Bearer error="insufficient_scope", scope="a b", resource_metadata="https://x/.well-known/oauth-protected-resource"`,
			BearerChallenge{Error: "insufficient_scope", Scope: "a b", ResourceMetadata: "https://x/.well-known/oauth-protected-resource"}, true},
		{`Basic realm="x", Bearer error=invalid_token, error_description="expired \"yesterday\""`,
			BearerChallenge{Error: "invalid_token", ErrorDescription: `expired "yesterday"`}, true},
		{`Bearer realm="api" , scope="x", DPoP algs="ES256"`, BearerChallenge{Scope: "x"}, true},
		{`bearer`, BearerChallenge{}, true},
		{`Basic realm="x"`, BearerChallenge{}, false},
		{`Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple"`, BearerChallenge{}, false},
		{``, BearerChallenge{}, false},
	} {
		got, ok := ParseBearerChallenge(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseBearerChallenge(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseBearerChallenge(f *testing.F) {
	for _, s := range []string{`Bearer error="insufficient_scope", scope="a b"`, `Basic realm="x", Bearer error=invalid_token`, `Bearer "\`, `Bearer a=,,=b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := ParseBearerChallenge(s)
		if !ok && c != (BearerChallenge{}) {
			t.Fatalf("no challenge but values: %+v", c)
		}
		for _, v := range []string{c.Error, c.ErrorDescription, c.Scope, c.ResourceMetadata} {
			if len(v) > maxChallengeBytes {
				t.Fatalf("value longer than the header bound")
			}
		}
	})
}

func FuzzParseProtectedResource(f *testing.F) {
	f.Add([]byte(`{"resource":"https://mcp.example/mcp","authorization_servers":["https://as.example"],"scopes_supported":["a"]}`))
	f.Add([]byte(`{"resource":"HTTPS://MCP.example/mcp/","authorization_servers":[]}`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseProtectedResource(b, "https://mcp.example/mcp")
		if err != nil {
			return
		}
		if len(m.AuthorizationServers) == 0 || len(m.AuthorizationServers) > maxMetadataList {
			t.Fatalf("accepted %d authorization servers", len(m.AuthorizationServers))
		}
		if r, _ := canonicalResource(m.Resource); r != "https://mcp.example/mcp" {
			t.Fatalf("accepted resource %q", m.Resource)
		}
		for _, s := range m.ScopesSupported {
			if !validScopeToken(s) {
				t.Fatalf("accepted scope %q", s)
			}
		}
	})
}

func FuzzParseAuthServerMetadata(f *testing.F) {
	good, _ := json.Marshal(goodAS("https://as.example"))
	f.Add(good)
	f.Add([]byte(`{"issuer":"https://as.example","authorization_endpoint":"javascript:alert(1)","token_endpoint":"https://as.example/t","code_challenge_methods_supported":["S256"]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseAuthServerMetadata(b, "https://as.example")
		if err != nil {
			return
		}
		if m.Issuer != "https://as.example" || !httpURL(m.AuthorizationEndpoint) || !httpURL(m.TokenEndpoint) {
			t.Fatalf("accepted %+v", m)
		}
		if m.RegistrationEndpoint != "" && !httpURL(m.RegistrationEndpoint) {
			t.Fatalf("accepted registration endpoint %q", m.RegistrationEndpoint)
		}
	})
}

// A discovered connection refreshes exactly once across replicas (two stores on one
// database), at the discovered token endpoint, with the discovered resource, rotating the
// refresh token.
func TestDiscoveredRefreshOnceAcrossReplicas(t *testing.T) {
	ms := newMetadataServer(t, goodPRM, goodAS)
	ms.rt = "rt-0"
	path := filepath.Join(t.TempDir(), "c.db")
	keys := newKeyring(t, "k1")
	app := OAuthApp{Name: "files", MCPServer: ms.URL + "/mcp", MetadataHosts: []string{"127.0.0.1"}}
	var replicas []*Connections
	for range 2 {
		st, err := store.OpenSQLite(context.Background(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		replicas = append(replicas, discoveredConnections(t, st, keys, app))
	}
	// Linked earlier; the access token has expired.
	if err := replicas[0].Link(context.Background(), "files", "alice", "at-0", "rt-0", "files.read", time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	got := make(chan string, 20)
	for i := range 20 {
		wg.Go(func() {
			p, _ := replicas[i%2].Provider("files")
			c, err := p.Credential(context.Background(), Request{Principal: principal("alice", "t"), Route: "r"})
			if err != nil {
				t.Error(err)
				return
			}
			got <- c.Header.Get("Authorization")
		})
	}
	wg.Wait()
	close(got)
	for h := range got {
		if h != "Bearer at-1" {
			t.Errorf("credential %q, want the one refreshed token", h)
		}
	}
	if n := ms.refreshes.Load(); n != 1 {
		t.Fatalf("%d refreshes, want exactly 1", n)
	}
	if ms.resources[0] != ms.URL+"/mcp" {
		t.Fatalf("refresh sent resource %q", ms.resources[0])
	}
}
