package authserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// BenchmarkIDJAGGrant measures access tokens issued per second over HTTP on 127.0.0.1 by
// the jwt-bearer grant with an ID-JAG (client authentication, ES256 signature check with the
// IdP's keys, every claim check, the jti recorded in the store, an ES256 access token), and,
// in the same run and on the same server, by the refresh-token grant (rotation in the store).
// The ID-JAGs are signed before the timer starts. PostgreSQL runs when
// MCPGATE_TEST_POSTGRES_DSN is set.
//
//	go test ./internal/authserver -run '^$' -bench IDJAGGrant -benchtime 3s
func BenchmarkIDJAGGrant(b *testing.B) {
	const idpIssuer = "https://idp.acme.example"
	idpKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &idpKey.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: idpKey}, (&jose.SignerOptions{}).WithType(IDJAGJWTType).WithHeader("kid", "k1"))
	if err != nil {
		b.Fatal(err)
	}

	newServer := func(b *testing.B, st store.Store) (string, string) {
		mux := http.NewServeMux()
		srv := httptest.NewServer(mux)
		b.Cleanup(srv.Close)
		resource := srv.URL + "/mcp"
		as, err := New(context.Background(), Options{Issuer: srv.URL, Store: st, AllowInsecureHTTP: true, Logger: slog.New(slog.DiscardHandler),
			Resources: func() []string { return []string{resource} }, Scopes: []string{"mcp:tools"},
			Clients: []StaticClient{
				{ID: "agent", Secret: "s3cret", GrantTypes: []string{GrantTypeJWTBearer}},
				{ID: "app", RedirectURIs: []string{"http://127.0.0.1:1/cb"}},
			},
			EnterpriseIdPs: []EnterpriseIdP{{Name: "acme", Issuer: idpIssuer, JWKS: string(jwks)}}})
		if err != nil {
			b.Fatal(err)
		}
		mux.Handle("/", as.Handler())
		st.CreateUser(context.Background(), store.User{ID: "u1", Username: "alice", Email: "alice@example.com", Name: "Alice", Groups: []string{"eng"}})
		return srv.URL, resource
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
	idjag := func(b *testing.B, base, resource string) {
		now := time.Now()
		assertions := make([]string, b.N)
		for i := range assertions {
			tok, err := jwt.Signed(signer).Claims(map[string]any{"iss": idpIssuer, "sub": "user-1", "aud": base, "client_id": "agent",
				"jti": randomToken(12), "iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "resource": resource,
				"scope": "mcp:tools", "email": "user1@acme.example", "groups": []string{"eng"}}).Serialize()
			if err != nil {
				b.Fatal(err)
			}
			assertions[i] = tok
		}
		var next atomic.Int64
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				a := assertions[next.Add(1)-1]
				if out := post(b, base+PathToken, url.Values{"grant_type": {GrantTypeJWTBearer}, "assertion": {a}}, "agent", "s3cret"); out["access_token"] == "" {
					b.Fatal("no token")
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
	}
	refresh := func(b *testing.B, base, resource string, st store.Store) {
		b.SetParallelism(8)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
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

	stores := []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"memory", func(*testing.B) store.Store { return store.NewMemory() }},
		{"sqlite", func(b *testing.B) store.Store {
			st, err := store.OpenSQLite(context.Background(), filepath.Join(b.TempDir(), "bench.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			return st
		}},
	}
	if os.Getenv("MCPGATE_TEST_POSTGRES_DSN") != "" {
		stores = append(stores, struct {
			name string
			open func(b *testing.B) store.Store
		}{"postgres", func(b *testing.B) store.Store {
			st, err := store.OpenPostgres(context.Background(), testutil.PostgresSchema(b), nil)
			if err != nil {
				b.Fatal(err)
			}
			return st
		}})
	}
	for _, sc := range stores {
		st := sc.open(b)
		defer st.Close()
		base, resource := newServer(b, st)
		b.Run("mcpgate-"+sc.name+"/id-jag", func(b *testing.B) { idjag(b, base, resource) })
		b.Run("mcpgate-"+sc.name+"/refresh", func(b *testing.B) { refresh(b, base, resource, st) })
	}
}
