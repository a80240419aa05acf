package gateway

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcpgate/mcpgate/internal/authn"
)

const (
	testIssuer   = "https://issuer.test"
	testAudience = "http://127.0.0.1/mcp-aud"
)

var (
	keyOnce sync.Once
	testKey *rsa.PrivateKey
)

func rsaKey(t testing.TB) *rsa.PrivateKey {
	keyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		testKey = k
	})
	return testKey
}

// rs256Verifier is a real JWT verifier (golang-jwt, RS256 only, iss/aud/exp checked) used
// in place of internal/authn, which is built elsewhere.
type rs256Verifier struct{ key *rsa.PublicKey }

func (v rs256Verifier) Verify(ctx context.Context, tok string) (*authn.Principal, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return v.key, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithIssuer(testIssuer), jwt.WithAudience(testAudience), jwt.WithExpirationRequired())
	if err != nil {
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			return nil, &authn.Error{Code: authn.CodeInvalidToken, Reason: "expired", Description: `the token expired; sign in again (a "quoted" \ detail)`}
		case errors.Is(err, jwt.ErrTokenInvalidAudience):
			return nil, &authn.Error{Code: authn.CodeInvalidToken, Reason: "wrong_audience", Description: "the token is for another audience"}
		default:
			return nil, &authn.Error{Code: authn.CodeInvalidToken, Reason: "malformed", Description: "the token is not a valid RS256 JWT from the expected issuer"}
		}
	}
	p := &authn.Principal{TokenHash: authn.HashToken(tok), Claims: claims, Issuer: testIssuer}
	p.Subject, _ = claims["sub"].(string)
	p.Email, _ = claims["email"].(string)
	p.Name, _ = claims["name"].(string)
	p.ClientID, _ = claims["client_id"].(string)
	if s, ok := claims["scope"].(string); ok {
		p.Scopes = strings.Fields(s)
	}
	if gs, ok := claims["groups"].([]any); ok {
		for _, g := range gs {
			if s, ok := g.(string); ok {
				p.Groups = append(p.Groups, s)
			}
		}
	}
	return p, nil
}

func testVerifier(t testing.TB) authn.Verifier { return rs256Verifier{key: &rsaKey(t).PublicKey} }

// mintToken signs an RS256 token; extra claims override the defaults.
func mintToken(t testing.TB, extra map[string]any) string {
	t.Helper()
	c := jwt.MapClaims{
		"iss": testIssuer, "aud": testAudience, "sub": "alice", "email": "alice@example.com", "name": "Alice",
		"client_id": "vscode", "scope": "mcp.tools", "groups": []string{"eng", "ops"},
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodRS256, c).SignedString(rsaKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// seen is what the echo upstream recorded about the last request.
type seen struct {
	mu     sync.Mutex
	header http.Header
	body   string
	n      int
}

func (s *seen) last() (http.Header, string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.header, s.body, s.n
}

// echoUpstream answers every request with a JSON-RPC result echoing the request id and
// records what it received.
func echoUpstream(t *testing.T) (*httptest.Server, *seen) {
	t.Helper()
	s := &seen{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.header, s.body = r.Header.Clone(), string(b)
		s.n++
		s.mu.Unlock()
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		_ = json.Unmarshal(b, &m)
		if len(m.ID) == 0 {
			m.ID = json.RawMessage("null")
		}
		w.Header().Set("Content-Type", "application/json")
		if m.Method == "initialize" { // a new session each time, as MCP servers do
			w.Header().Set("Mcp-Session-Id", fmt.Sprintf("sess-%d", s.n))
		}
		_, _ = w.Write([]byte(`{"jsonrpc":"2.0","id":` + string(m.ID) + `,"result":{"ok":true}}`))
	}))
	t.Cleanup(srv.Close)
	return srv, s
}

// newGateway starts the gateway on a real loopback listener.
func newGateway(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	gw, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(func() {
		gw.kill() // end streams still open (a failed test may leave some)
		srv.CloseClientConnections()
		srv.Close()
	})
	return gw, srv.URL
}

const initBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`

func post(t *testing.T, url, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range hdr {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}
