package upstream

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// clock is a settable clock shared by providers under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }
func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// thirdParty is a running oidc-provider (testdata/thirdparty-as.mjs).
type thirdParty struct {
	Issuer string
}

const (
	tpResource     = "https://api.thirdparty.test"
	tpClientID     = "mcpgate"
	tpClientSecret = "mcpgate-connection-secret-7c1e"
	tpAppID        = "mcpgate-app"
	tpAppSecret    = "mcpgate-app-secret-93bd"
)

func startThirdParty(t *testing.T, redirectURI string) *thirdParty {
	t.Helper()
	issuer := testutil.StartOIDCProvider(t, filepath.Join("testdata", "thirdparty-as.mjs"),
		"REDIRECT_URI="+redirectURI, "RESOURCE="+tpResource, "AT_TTL=300")
	return &thirdParty{Issuer: issuer}
}

type tpStats struct {
	Token       map[string]int `json:"token"`
	TokenErrors map[string]int `json:"tokenErrors"`
}

func (tp *thirdParty) stats(t *testing.T) tpStats {
	t.Helper()
	resp, err := http.Get(tp.Issuer + "/__test/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s tpStats
	json.NewDecoder(resp.Body).Decode(&s)
	return s
}

// api is a resource server that accepts only JWTs from the third party for tpResource,
// verified against its published JWKS.
type api struct {
	URL string
}

func startAPI(t *testing.T, issuer, jwksURL, audience string) *api {
	t.Helper()
	kf, err := keyfunc.NewDefaultCtx(t.Context(), []string{jwksURL})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			http.Error(w, "no bearer", http.StatusUnauthorized)
			return
		}
		var cl jwt.MapClaims
		_, err := jwt.ParseWithClaims(raw, &cl, kf.Keyfunc, jwt.WithIssuer(issuer), jwt.WithAudience(audience), jwt.WithExpirationRequired(), jwt.WithValidMethods([]string{"RS256", "ES256"}))
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(cl)
	}))
	t.Cleanup(srv.Close)
	return &api{URL: srv.URL}
}

func (a *api) call(t *testing.T, c Credential) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, a.URL, nil)
	c.Apply(req.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	body, _ := io.ReadAll(resp.Body)
	json.Unmarshal(body, &m)
	if resp.StatusCode != 200 {
		t.Logf("api said %d: %s", resp.StatusCode, body)
	}
	return resp.StatusCode, m
}

// browser is an HTTP client with cookies, like a user's browser.
func browser(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 20 * time.Second}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfFrom(t *testing.T, html string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(html)
	if m == nil {
		t.Fatalf("no csrf field in page:\n%s", html)
	}
	return strings.ReplaceAll(m[1], "&#43;", "+")
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func principal(sub, token string) *authn.Principal {
	return &authn.Principal{Subject: sub, Email: sub + "@example.com", TokenHash: authn.HashToken(token)}
}

var _ = context.Background

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
