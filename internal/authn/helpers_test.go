package authn

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

// testKey is a signing key generated for a test.
type testKey struct {
	kid    string
	alg    string
	priv   crypto.Signer
	issuer string // Entra's per-key issuer member, when set
}

var (
	rsaOnce sync.Once
	rsaPool []*rsa.PrivateKey
)

// rsaKey returns the i-th of a few RSA keys generated once per test binary (2048-bit
// generation is slow on a shared 2-core machine).
func rsaKey(t testing.TB, i int) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		for range 4 {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			rsaPool = append(rsaPool, k)
		}
	})
	return rsaPool[i]
}

func newRSA(t testing.TB, i int, kid string) *testKey {
	return &testKey{kid: kid, alg: "RS256", priv: rsaKey(t, i)}
}

func newEC(t testing.TB, kid string) *testKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &testKey{kid: kid, alg: "ES256", priv: k}
}

// jwk returns the public JWK of k as a JSON object (with Entra's issuer member if set).
func (k *testKey) jwk(t testing.TB) map[string]any {
	j, err := jwkset.NewJWKFromKey(k.priv.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: k.kid, ALG: jwkset.ALG(k.alg), USE: jwkset.UseSig}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(j.Marshal())
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	if k.issuer != "" {
		m["issuer"] = k.issuer
	}
	return m
}

func jwksJSON(t testing.TB, keys ...*testKey) string {
	var list []map[string]any
	for _, k := range keys {
		list = append(list, k.jwk(t))
	}
	b, _ := json.Marshal(map[string]any{"keys": list})
	return string(b)
}

// sign makes a token signed by k with the given claims (and header overrides).
func (k *testKey) sign(t testing.TB, claims jwt.MapClaims, header ...map[string]any) string {
	var m jwt.SigningMethod = jwt.SigningMethodRS256
	if k.alg == "ES256" {
		m = jwt.SigningMethodES256
	}
	tok := jwt.NewWithClaims(m, claims)
	tok.Header["kid"] = k.kid
	for _, h := range header {
		for n, v := range h {
			if v == nil {
				delete(tok.Header, n)
			} else {
				tok.Header[n] = v
			}
		}
	}
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// idp is an in-test identity provider: a JWKS (and discovery) endpoint on 127.0.0.1 whose
// keys can be swapped, which counts its requests and can be taken down.
type idp struct {
	t        testing.TB
	srv      *httptest.Server
	mu       sync.Mutex
	keys     []*testKey
	jwksHits atomic.Int64
	discHits atomic.Int64
	down     atomic.Bool
	issuer   string   // discovery's issuer; default srv.URL
	paths    sync.Map // JWKS paths requested
}

func newIDP(t testing.TB, keys ...*testKey) *idp {
	p := &idp{t: t, keys: keys}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		p.discHits.Add(1)
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		iss := p.issuer
		if iss == "" {
			iss = p.srv.URL
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": iss, "jwks_uri": p.srv.URL + "/keys"})
	})
	keysHandler := func(w http.ResponseWriter, r *http.Request) {
		p.jwksHits.Add(1)
		p.paths.Store(r.URL.Path, true)
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		p.mu.Lock()
		body := jwksJSON(t, p.keys...)
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}
	mux.HandleFunc("/keys", keysHandler)
	// Entra layout: /{tenant}/discovery/keys and /{tenant}/discovery/v2.0/keys.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/discovery/keys") || strings.HasSuffix(r.URL.Path, "/discovery/v2.0/keys") {
			keysHandler(w, r)
			return
		}
		http.NotFound(w, r)
	})
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *idp) setKeys(keys ...*testKey) {
	p.mu.Lock()
	p.keys = keys
	p.mu.Unlock()
}

// clock is a settable test clock.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) Now() time.Time             { return time.Unix(0, c.ns.Load()) }
func (c *clock) Add(d time.Duration)        { c.ns.Add(int64(d)) }
func (c *clock) unix(d time.Duration) int64 { return c.Now().Add(d).Unix() }

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// newTestRegistry builds a registry and closes it at the end of the test.
func newTestRegistry(t testing.TB, issuers []Issuer, o Options) *Registry {
	t.Helper()
	if o.Logger == nil {
		o.Logger = testLogger(t)
	}
	r, err := NewRegistry(context.Background(), issuers, o)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = r.WaitReady(ctx)
	return r
}

func mustVerifier(t testing.TB, r *Registry, names []string, auds []string) *JWTVerifier {
	t.Helper()
	v, err := r.Verifier(names, auds)
	if err != nil {
		t.Fatalf("Verifier: %v", err)
	}
	return v
}

// wantReject asserts err is a rejection with the reason, and that its description is safe
// to put in a WWW-Authenticate header and does not contain the token.
func wantReject(t testing.TB, err error, reason, token string) *Error {
	t.Helper()
	e, ok := err.(*Error)
	if !ok {
		t.Fatalf("want rejection %s, got %T %v", reason, err, err)
	}
	if e.Code != CodeInvalidToken || e.Reason != reason {
		t.Fatalf("want %s/%s, got %s/%s: %s", CodeInvalidToken, reason, e.Code, e.Reason, e.Description)
	}
	for _, r := range e.Description {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			t.Fatalf("description has a character not allowed in error_description: %q", e.Description)
		}
	}
	if token != "" && strings.Contains(e.Description, token) {
		t.Fatalf("description echoes the token")
	}
	if len(token) > 40 {
		for _, part := range strings.Split(token, ".") {
			if len(part) > 20 && strings.Contains(e.Description, part) {
				t.Fatalf("description echoes part of the token")
			}
		}
	}
	return e
}
