package authserver

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// BenchmarkTokenIssuance measures tokens issued per second over HTTP on 127.0.0.1:
// mcpgate's client_credentials and refresh grants (ES256 JWT access tokens with a
// resource audience), and, in the same run, oidc-provider (npm) issuing client_credentials
// ES256 JWT access tokens for a resource indicator as the baseline.
//
//	go test ./internal/authserver -run '^$' -bench TokenIssuance -benchtime 3s
func BenchmarkTokenIssuance(b *testing.B) {
	const resource = "https://mcp.example.com/mcp"
	newServer := func(b *testing.B, st store.Store) (string, *Server) {
		mux := http.NewServeMux()
		srv := httptest.NewServer(mux)
		b.Cleanup(srv.Close)
		as, err := New(context.Background(), Options{Issuer: srv.URL, Store: st, AllowInsecureHTTP: true, Logger: slog.New(slog.DiscardHandler),
			Resources: func() []string { return []string{resource} }, Scopes: []string{"mcp:tools"},
			Clients: []StaticClient{
				{ID: "svc", Secret: "s3cret", GrantTypes: []string{"client_credentials"}},
				{ID: "app", RedirectURIs: []string{"http://127.0.0.1:1/cb"}},
			}})
		if err != nil {
			b.Fatal(err)
		}
		mux.Handle("/", as.Handler())
		st.CreateUser(context.Background(), store.User{ID: "u1", Username: "alice", Email: "alice@example.com", Name: "Alice", Groups: []string{"eng"}})
		return srv.URL, as
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}}
	post := func(b *testing.B, tokenURL string, form url.Values, user, pass string) map[string]any {
		req, _ := http.NewRequest(http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
			b.Fatalf("token endpoint: %d %v %v", resp.StatusCode, out, err)
		}
		return out
	}
	clientCredentials := func(b *testing.B, tokenURL string) {
		form := url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp:tools"}, "resource": {resource}}
		post(b, tokenURL, form, "svc", "s3cret") // warm up
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if out := post(b, tokenURL, form, "svc", "s3cret"); out["access_token"] == "" {
					b.Fatal("no token")
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	}
	refresh := func(b *testing.B, base string, st store.Store) {
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			// Each goroutine rotates its own family, seeded directly in the store.
			rt := randomToken(32)
			now := time.Now()
			st.CreateRefreshToken(context.Background(), store.RefreshToken{ID: hashToken(rt), FamilyID: randomToken(12), ClientID: "app", UserID: "u1",
				Scopes: []string{"openid", "mcp:tools", "offline_access"}, Audience: []string{resource}, CreatedAt: now, ExpiresAt: now.Add(time.Hour)})
			for pb.Next() {
				out := post(b, base+PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {"app"}}, "", "")
				rt, _ = out["refresh_token"].(string)
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	}

	mem := store.NewMemory()
	memURL, _ := newServer(b, mem)
	sq, err := store.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer sq.Close()
	sqURL, _ := newServer(b, sq)

	b.Run("mcpgate-memory/client_credentials", func(b *testing.B) { clientCredentials(b, memURL+PathToken) })
	b.Run("mcpgate-memory/refresh", func(b *testing.B) { refresh(b, memURL, mem) })
	b.Run("mcpgate-sqlite/client_credentials", func(b *testing.B) { clientCredentials(b, sqURL+PathToken) })
	b.Run("mcpgate-sqlite/refresh", func(b *testing.B) { refresh(b, sqURL, sq) })
	// The baseline runs once for every round of the sub-benchmark.
	var opURL string
	parent := b
	b.Run("oidc-provider/client_credentials", func(b *testing.B) {
		if opURL == "" {
			opURL = startOIDCProvider(parent, resource)
		}
		clientCredentials(b, opURL)
	})
}

// startOIDCProvider starts testdata/oidc_provider_server.mjs and returns its token URL.
func startOIDCProvider(b *testing.B, resource string) string {
	nodeDir := testutil.NodeModules(b)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "oidc_provider_server.mjs"), resource)
	cmd.Env = append(cmd.Environ(), "NODE_MODULES_DIR="+filepath.Join(nodeDir, "node_modules"))
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		cancel()
		b.Fatal(err)
	}
	// Parent cleanup: kill first, then reap.
	b.Cleanup(func() { cancel(); cmd.Wait() })
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if p, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
			go io.Copy(io.Discard, stdout)
			return "http://127.0.0.1:" + p + "/token"
		}
	}
	b.Fatal("oidc-provider did not start")
	return ""
}

// BenchmarkRevocationCheck measures the revocation check of every MCP request: the
// in-memory revocation list (a hit and a miss, with 1000 revoked tokens, polled from the
// store every 5s by the first check after that, or by RunRevocationSync) beside, in the same run, the direct store lookup
// it replaced (store.AccessTokenRevoked on SQLite) as the baseline, and the whole
// VerifyAccessToken (ES256 signature included) for scale.
//
//	go test ./internal/authserver -run '^$' -bench RevocationCheck -benchtime 2s
func BenchmarkRevocationCheck(b *testing.B) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "bench.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	exp := time.Now().Add(time.Hour)
	for i := range 1000 {
		if err := st.RevokeAccessToken(ctx, "revoked-"+strconv.Itoa(i), exp); err != nil {
			b.Fatal(err)
		}
	}
	const resource = "https://mcp.example.com/mcp"
	as, err := New(ctx, Options{Issuer: "http://127.0.0.1:1", Store: st, AllowInsecureHTTP: true, Logger: slog.New(slog.DiscardHandler),
		Resources: func() []string { return []string{resource} }})
	if err != nil {
		b.Fatal(err)
	}
	const hit, miss = "revoked-500", "not-revoked-jti-0123456789ab"
	if !as.revocations.revoked(ctx, hit) || as.revocations.revoked(ctx, miss) {
		b.Fatal("the revocation list was not loaded from the store")
	}
	now := time.Now()
	tok, err := as.mint(ctx, AccessClaims{Issuer: as.issuer, Subject: "u1", Audience: []string{resource}, ID: miss,
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Hour)), ClientID: "app", Scope: "mcp:tools"}, nil)
	if err != nil {
		b.Fatal(err)
	}
	list := func(jti string, want bool) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if as.revocations.revoked(ctx, jti) != want {
					b.Fatal("wrong answer")
				}
			}
		}
	}
	direct := func(jti string, want bool) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if got, err := st.AccessTokenRevoked(ctx, jti); err != nil || got != want {
					b.Fatal("wrong answer", err)
				}
			}
		}
	}
	b.Run("list/hit", list(hit, true))
	b.Run("list/miss", list(miss, false))
	b.Run("list/miss-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if as.revocations.revoked(ctx, miss) {
					b.Error("wrong answer")
					return
				}
			}
		})
	})
	// With RunRevocationSync polling in the background (the wired-up gateway), a check
	// does not even read the clock.
	b.Run("list-with-poller", func(b *testing.B) {
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); as.RunRevocationSync(pctx, nil) }()
		for as.revocations.pollers.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		b.Cleanup(func() { cancel(); <-done })
		b.Run("hit", list(hit, true))
		b.Run("miss", list(miss, false))
	})
	b.Run("sqlite-direct/hit", direct(hit, true))
	b.Run("sqlite-direct/miss", direct(miss, false))
	b.Run("verify-access-token/list", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := as.VerifyAccessToken(ctx, tok, resource); err != nil {
				b.Fatal(err)
			}
		}
	})
}
