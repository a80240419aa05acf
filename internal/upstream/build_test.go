package upstream

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/config"
)

func TestBuildFromConfig(t *testing.T) {
	ts := newTokenServer(t, okToken("tok"))
	key := make([]byte, 32)
	rand.Read(key)
	t.Setenv("TEST_UPSTREAM_KEYS", "k1:"+base64.StdEncoding.EncodeToString(key))
	doc := `
publicURL: https://mcp.example.com
issuers: [{name: idp, issuer: https://idp.example.com}]
upstreamCredentials:
  secrets: {keysEnv: TEST_UPSTREAM_KEYS}
  connections:
    - {name: gh, authorizeURL: https://gh.example/authorize, tokenURL: https://gh.example/token, clientId: c, clientSecret: s, scopes: [repo]}
routes:
  - {name: obo, path: /obo/mcp, upstream: {url: http://127.0.0.1:1/mcp}, auth: {issuers: [idp]}, upstreamAuth: {obo: {tokenURL: "` + ts.URL + `", clientId: app, clientSecret: s, scope: api://w/.default}}}
  - {name: te, path: /te/mcp, upstream: {url: http://127.0.0.1:1/mcp}, auth: {issuers: [idp]}, upstreamAuth: {tokenExchange: {tokenURL: "` + ts.URL + `", audience: a}}}
  - {name: jwt, path: /jwt/mcp, upstream: {url: http://127.0.0.1:1/mcp}, auth: {issuers: [idp]}, upstreamAuth: {gatewayJWT: {}}}
  - {name: st, path: /st/mcp, upstream: {url: http://127.0.0.1:1/mcp}, auth: {issuers: [idp]}, upstreamAuth: {static: {value: k, header: X-Key}}}
  - {name: conn, path: /conn/mcp, upstream: {url: http://127.0.0.1:1/mcp}, auth: {issuers: [idp]}, upstreamAuth: {connection: {provider: gh}}}
  - {name: none, path: /none/mcp, upstream: {url: http://127.0.0.1:1/mcp}, auth: {issuers: [idp]}}
`
	cfg, _, err := config.Parse("t.yaml", []byte(doc), func(k string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	set, err := Build(cfg, BuildOptions{Store: NewMemoryConnectionStore(), CurrentUser: func(*http.Request) (string, bool) { return "alice", true }, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	for route, mode := range map[string]string{"obo": "obo", "te": "tokenExchange", "jwt": "gatewayJWT", "st": "static", "conn": "connection"} {
		if _, ok := set.For(route); !ok || set.Mode(route) != mode {
			t.Errorf("route %s: provider missing or mode %q", route, set.Mode(route))
		}
	}
	if _, ok := set.For("none"); ok {
		t.Error("route without upstreamAuth got a provider")
	}
	p, _ := set.For("obo")
	if c, err := p.Credential(context.Background(), callerReq()); err != nil || c.Header.Get("Authorization") != "Bearer tok" {
		t.Fatalf("obo: %v", err)
	}
	p, _ = set.For("te") // the token server gives no issued_token_type
	if _, err := p.Credential(context.Background(), callerReq()); Reason(err) != ReasonInvalidResponse {
		t.Fatalf("te: %v", err)
	}
	p, _ = set.For("conn")
	_, err = p.Credential(context.Background(), callerReq())
	if nua, ok := err.(*NeedsUserAction); !ok || nua.URL != "https://mcp.example.com/connections/gh/connect" {
		t.Fatalf("conn: %v", err)
	}
	mux := http.NewServeMux()
	set.Mount(mux)
	for path, want := range map[string]string{"/.well-known/mcpgate-upstream-jwks.json": `"keys"`, "/connections/": "My connections"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), want) {
			t.Errorf("GET %s = %d %s", path, rec.Code, rec.Body.String())
		}
	}
	// Connections without keys fail at startup with a clear message.
	t.Setenv("TEST_UPSTREAM_KEYS", "")
	if _, err := Build(cfg, BuildOptions{Store: NewMemoryConnectionStore()}); err == nil || !strings.Contains(err.Error(), "TEST_UPSTREAM_KEYS") {
		t.Fatalf("missing keys: %v", err)
	}
}

func TestLoadCertificateAssertion(t *testing.T) {
	key, cert := selfSignedCert(t)
	dir := t.TempDir()
	writeFile(t, dir+"/cert.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})))
	der, _ := x509.MarshalPKCS8PrivateKey(key)
	writeFile(t, dir+"/key.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})))
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	writeFile(t, dir+"/other.pem", string(pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(other)})))
	ca, err := LoadCertificateAssertion("app", dir+"/cert.pem", dir+"/key.pem", "")
	if err != nil || ca.ID != "app" || !ca.Certificate.Equal(cert) {
		t.Fatalf("load: %v", err)
	}
	if _, err := LoadCertificateAssertion("app", dir+"/cert.pem", dir+"/other.pem", ""); err == nil || !strings.Contains(err.Error(), "does not belong to the certificate") {
		t.Fatalf("mismatched key accepted: %v", err)
	}
	if _, err := LoadCertificateAssertion("app", dir+"/key.pem", dir+"/key.pem", ""); err == nil || !strings.Contains(err.Error(), "no PEM CERTIFICATE") {
		t.Fatalf("key as certificate accepted: %v", err)
	}
}

func TestConnectionReturnURL(t *testing.T) {
	cs, err := NewConnections(ConnectionsConfig{Apps: []OAuthApp{{Name: "svc", AuthorizeURL: "http://127.0.0.1:1/a", TokenURL: "http://127.0.0.1:1/t", ClientID: "c"}},
		Store: NewMemoryConnectionStore(), Keys: newKeyring(t, "k"), BaseURL: "https://mcp.example.com/connections"})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := cs.Provider("svc")
	for ret, want := range map[string]string{
		"/chat/42":             "https://mcp.example.com/connections/svc/connect?return=%2Fchat%2F42",
		"https://evil.example": "https://mcp.example.com/connections/svc/connect",
	} {
		_, err := p.Credential(context.Background(), Request{Principal: principal("alice", "t"), ReturnURL: ret})
		if nua, ok := err.(*NeedsUserAction); !ok || nua.URL != want {
			t.Errorf("return %q: %v, want %s", ret, err, want)
		}
	}
}
