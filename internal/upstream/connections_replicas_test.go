package upstream_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/secrets"
	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/testutil"
	"github.com/mcpgate/mcpgate/internal/upstream"
)

// TestRefreshOnceAcrossReplicas: replicas with their own stores on one shared database
// refresh an expired connection with exactly one token request, using the
// rotating refresh token once.
func TestRefreshOnceAcrossReplicas(t *testing.T) {
	backends := map[string]func(t *testing.T) func() *store.SQL{
		"sqlite": func(t *testing.T) func() *store.SQL {
			path := filepath.Join(t.TempDir(), "c.db")
			return func() *store.SQL {
				s, err := store.OpenSQLite(context.Background(), path, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
		},
		"postgres": func(t *testing.T) func() *store.SQL {
			dsn := testutil.PostgresSchema(t)
			return func() *store.SQL {
				s, err := store.OpenPostgres(context.Background(), dsn, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
		},
	}
	for name, open := range backends {
		t.Run(name, func(t *testing.T) {
			newStore := open(t)
			var refreshes atomic.Int64
			var mu sync.Mutex
			current := "rt-0"
			as := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				r.ParseForm()
				refreshes.Add(1)
				time.Sleep(30 * time.Millisecond)
				mu.Lock()
				defer mu.Unlock()
				w.Header().Set("Content-Type", "application/json")
				if r.PostForm.Get("refresh_token") != current || r.PostForm.Get("resource") != "https://api.example" {
					w.WriteHeader(400)
					json.NewEncoder(w).Encode(map[string]string{"error": "invalid_grant"})
					return
				}
				n := refreshes.Load()
				current = fmt.Sprintf("rt-%d", n)
				json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("at-%d", n), "refresh_token": current, "token_type": "Bearer", "expires_in": 3600})
			}))
			defer as.Close()
			key := make([]byte, 32)
			rand.Read(key)
			keys, _ := secrets.NewKeyring("", secrets.Key{ID: "k", Material: key})
			var providers []upstream.Provider
			var first *upstream.Connections
			for i := range 3 {
				cs, err := upstream.NewConnections(upstream.ConnectionsConfig{
					Apps:  []upstream.OAuthApp{{Name: "svc", AuthorizeURL: as.URL + "/authorize", TokenURL: as.URL + "/token", ClientID: "c", ClientSecret: "s", Resource: "https://api.example"}},
					Store: newStore(), Keys: keys, BaseURL: "https://mcp.example.com/connections",
				})
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = cs
				}
				p, _ := cs.Provider("svc")
				providers = append(providers, p)
			}
			// Linked with an access token that is already past its refresh point.
			if err := first.Link(context.Background(), "svc", "alice", "at-old", "rt-0", "", time.Now().Add(10*time.Second)); err != nil {
				t.Fatal(err)
			}
			req := upstream.Request{Principal: &authn.Principal{Subject: "alice"}}
			var wg sync.WaitGroup
			results := make([]string, 24)
			errs := make([]error, 24)
			for i := range results {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := providers[i%3].Credential(context.Background(), req)
					results[i], errs[i] = c.Header.Get("Authorization"), err
				}()
			}
			wg.Wait()
			for i := range results {
				if errs[i] != nil || results[i] != "Bearer at-1" {
					t.Fatalf("caller %d: %q %v", i, results[i], errs[i])
				}
			}
			if n := refreshes.Load(); n != 1 {
				t.Fatalf("token endpoint saw %d refreshes, want exactly 1", n)
			}
		})
	}
}
