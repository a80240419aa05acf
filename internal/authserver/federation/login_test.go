package federation_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"

	"github.com/mcpgate/mcpgate/internal/app"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/authserver/federation"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/store"
)

// TestLoginPage: with a password connector besides a redirect connector the login page
// offers both; with only the redirect connector it goes straight to the provider.
func TestLoginPage(t *testing.T) {
	hash, err := authserver.HashPassword("pw-123456")
	if err != nil {
		t.Fatal(err)
	}
	for _, local := range []bool{true, false} {
		t.Run(map[bool]string{true: "local and entra", false: "entra only"}[local], func(t *testing.T) {
			e := entraEnv(t, entraSetup{version: 2}, nil, func(c *config.Config) {
				if local {
					c.AuthServer.Users = []config.AuthServerUser{{Username: "ops", PasswordHash: hash}}
				}
			})
			if app.LocalLogin(e.cfg) != local {
				t.Fatalf("LocalLogin = %v", !local)
			}
			b := newBrowser(t, "http://127.0.0.1:5555/callback")
			b.stopAt = e.url + authserver.PathFederatedLogin
			id := register(t, e.url, b.redirect, "Client")
			resp, body := b.get(authorizeURL(e, id, b.redirect))
			if local {
				if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Sign in with Contoso") || !strings.Contains(body, `name="password"`) ||
					!strings.Contains(body, authserver.PathFederatedLogin+"?authRequestID=") {
					t.Fatalf("want a page with the Contoso button and the password form, got %d:\n%s", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), authserver.PathFederatedLogin+"?authRequestID=") {
				t.Fatalf("want an immediate redirect to the provider, got %d %s:\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
			}
		})
	}
}

// TestSSRFGuard: without allowPrivateAddresses the connector refuses to reach a provider on
// a loopback address (discovery), and the user gets an error page.
func TestSSRFGuard(t *testing.T) {
	var hits int
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits++ }))
	defer idp.Close()
	c, err := federation.New(federation.Options{Config: config.AuthServerConnector{ID: "corp", Type: "oidc", Issuer: idp.URL, ClientID: "x"},
		Store: store.NewMemory(), Keys: testKeys(t)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.AuthCodeURL(context.Background(), authserver.RedirectStart{State: "s", RedirectURI: "https://mcp.example.com/login/callback"})
	if !errors.Is(err, authserver.ErrSSRFBlocked) || hits != 0 {
		t.Fatalf("AuthCodeURL = %v (hits %d); want ErrSSRFBlocked and no request", err, hits)
	}

	logs := &syncBuffer{}
	front := newLazyServer(t)
	as, err := authserver.New(context.Background(), authserver.Options{Issuer: front.URL, Store: store.NewMemory(), AllowInsecureHTTP: true,
		Logger: slogTo(logs), Resources: func() []string { return []string{front.URL + "/mcp"} }, Connectors: []authserver.Connector{c}})
	if err != nil {
		t.Fatal(err)
	}
	front.set(as.Handler())
	e := &env{t: t, url: front.URL, resource: front.URL + "/mcp"}
	b := newBrowser(t, "http://127.0.0.1:5555/callback")
	resp, body := b.get(authorizeURL(e, register(t, e.url, b.redirect, "Client"), b.redirect))
	resp, body = b.consent(resp, body, true)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "could not reach") || !strings.Contains(logs.String(), "address not allowed") {
		t.Fatalf("want the sign-in unavailable page and the SSRF refusal logged, got %d:\n%s\n%s", resp.StatusCode, body, logs.String())
	}
}

// TestTokensSurviveRestart: the sealed upstream tokens and the identity live in the SQL
// connection store; a new connector (another replica, or after a restart) with the same
// keys finds the user and uses the token; with other keys it cannot open them.
func TestTokensSurviveRestart(t *testing.T) {
	e := entraEnv(t, entraSetup{version: 2}, nil, nil)
	b := newBrowser(t, "http://127.0.0.1:5555/callback")
	sess, _ := mcpClient(t, e.resource, b, "client")
	callWhoami(t, sess)
	sub := "entra:" + contoso + ":" + aliceOID
	sc, err := e.tokens.GetConnection(context.Background(), sub, federation.StoreProvider("entra"))
	if err != nil {
		t.Fatal(err)
	}
	sqlStore, err := store.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "t.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sqlStore.Close()
	sc.Version = 1
	if err := sqlStore.CompareAndSwapConnection(context.Background(), 0, sc); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		keys bool
	}{{"same keys", true}, {"other keys", false}} {
		t.Run(tc.name, func(t *testing.T) {
			keys := e.keys
			if !tc.keys {
				keys = testKeys(t)
			}
			fresh, err := app.Federation(e.cfg, federation.Deps{Store: sqlStore, Keys: keys})
			if err != nil {
				t.Fatal(err)
			}
			defer fresh.Close()
			c := fresh.For(sub)
			id, err := c.Lookup(context.Background(), sub)
			tok, terr := c.UpstreamToken(context.Background(), sub)
			if tc.keys {
				if err != nil || id.Email != "alice@contoso.com" || terr != nil || !strings.HasPrefix(tok, "eyJ") {
					t.Fatalf("Lookup = %+v, %v; UpstreamToken err %v", id, err, terr)
				}
				return
			}
			if err == nil || terr == nil {
				t.Fatal("tokens sealed with other keys were opened")
			}
		})
	}
}
