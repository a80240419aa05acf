package federation_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/authserver/federation"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/upstream"
)

// entraSetup is one emulator directory variant.
type entraSetup struct {
	version     int  // accessTokenAcceptedVersion of mcpgate's app (the token mcpgate keeps)
	multiTenant bool // mcpgate's and the Weather API's apps multi-tenant; the user from Fabrikam
	idpClock    *clock
}

// userTenant is the signed-in user: tenant, object id, UPN and the email mcpgate should
// take (mail when the directory has one, else the UPN).
func (s entraSetup) userTenant() (tid, oid, upn, email string) {
	if s.multiTenant {
		return fabrikam, bobOID, "bob@fabrikam.onmicrosoft.com", "bob@fabrikam.onmicrosoft.com"
	}
	return contoso, aliceOID, "alice@contoso.onmicrosoft.com", "alice@contoso.com"
}

func (s entraSetup) directory(d *config.Entra) {
	_, _, upn, _ := s.userTenant()
	for i := range d.Apps {
		if d.Apps[i].Name == "mcpgate" {
			d.Apps[i].AccessTokenAcceptedVersion = s.version
		}
		if s.multiTenant && (d.Apps[i].Name == "mcpgate" || d.Apps[i].Name == "Weather API") {
			d.Apps[i].SignInAudience = "AzureADMultipleOrgs"
		}
	}
	if s.multiTenant {
		d.Tenants = append(d.Tenants, config.EntraTenant{ID: fabrikam, Domains: []string{"fabrikam.onmicrosoft.com"}, DisplayName: "Fabrikam",
			Users:        []config.EntraUser{{ObjectID: bobOID, UserPrincipalName: upn, DisplayName: "Bob", Password: "bob-password"}},
			AdminConsent: []string{"mcpgate"}})
	}
	d.AutoLogin = upn
}

// entraEnv starts the emulator and mcpgate bridged to it (testdata/mcpgate-entra.yaml),
// with the Weather API MCP server as the route's upstream.
func entraEnv(t *testing.T, s entraSetup, mutateDir func(*config.Entra), mutateCfg func(*config.Config)) *env {
	t.Helper()
	logs := &syncBuffer{}
	front := newLazyServer(t)
	idpNow := time.Now
	if s.idpClock != nil {
		idpNow = s.idpClock.now
	}
	_, idp := emulator(t, front.URL, logs, func(d *config.Entra) {
		s.directory(d)
		if mutateDir != nil {
			mutateDir(d)
		}
	}, idpNow)
	// The Weather API accepts only tokens for itself (aud = its client id, v2).
	wi := authn.Issuer{Name: "entra", Entra: &authn.EntraIssuer{Tenant: contoso, Versions: []int{2}, ClientID: weatherApp, AppIDURI: "api://weather", Authority: idp}}
	if s.multiTenant {
		wi.Entra.Tenant, wi.Entra.AllowedTenants = "organizations", []string{contoso, fabrikam}
	}
	reg, err := authn.NewRegistry(context.Background(), []authn.Issuer{wi}, authn.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	wv, err := reg.Verifier([]string{"entra"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	weather := weatherServer(t, wv)
	e := newMCPGate(t, front, "testdata/mcpgate-entra.yaml", map[string]string{"MCPGATE_ENTRA_SECRET": secretVal, "ENTRA_AUTHORITY": idp, "WEATHER_URL": weather}, logs,
		func(c *config.Config) {
			if s.multiTenant {
				cn := &c.AuthServer.Connectors[0]
				cn.Entra.Tenant, cn.Entra.AllowedTenants = "organizations", []string{contoso, fabrikam}
				c.Routes[0].UpstreamAuth.OBO.Tenant = "organizations"
			}
			if mutateCfg != nil {
				mutateCfg(c)
			}
		})
	e.idp = idp
	return e
}

// TestBridgeEntra is issue 8's done-when (a): the go-sdk MCP client registers with
// mcpgate (DCR), signs in at the Entra emulator through mcpgate (auth code + PKCE, bridged),
// approves mcpgate's consent page, gets an mcpgate token for the route, and calls a tool
// whose upstream receives an On-Behalf-Of token minted from the USER'S Entra token: its own
// audience and the user's identity. Single- and multi-tenant, v1 and v2 apps.
func TestBridgeEntra(t *testing.T) {
	for _, s := range []entraSetup{{version: 2}, {version: 1}, {version: 2, multiTenant: true}, {version: 1, multiTenant: true}} {
		name := map[bool]string{false: "single-tenant", true: "multi-tenant"}[s.multiTenant] + "-v" + string(rune('0'+s.version))
		t.Run(name, func(t *testing.T) {
			s.idpClock = &clock{} // the emulator's clock follows mcpgate's (refreshed id_tokens are verified)
			e := entraEnv(t, s, nil, nil)
			tid, oid, _, email := s.userTenant()
			b := newBrowser(t, "http://127.0.0.1:5555/callback")
			sess, h := mcpClient(t, e.resource, b, "bridge e2e")
			text := callWhoami(t, sess)
			want := "aud=" + weatherApp + " "
			if !strings.Contains(text, want) || !strings.Contains(text, "tid="+tid) || !strings.Contains(text, "oid="+oid) || !strings.Contains(text, "scp=access_as_user") {
				t.Fatalf("upstream saw %q; want %s, the user's tid %s and oid %s, scp access_as_user", text, want, tid, oid)
			}

			// mcpgate's token: audience the route, subject entra:<tid>:<oid>.
			ts, _ := h.TokenSource(context.Background())
			tok, err := ts.Token()
			if err != nil {
				t.Fatal(err)
			}
			c, _, err := e.as.VerifyAccessToken(context.Background(), tok.AccessToken, e.resource)
			if err != nil {
				t.Fatalf("mcpgate token: %v", err)
			}
			sub := "entra:" + tid + ":" + oid
			if c.Subject != sub || c.Email != email {
				t.Fatalf("mcpgate token sub=%q email=%q, want %q %q", c.Subject, c.Email, sub, email)
			}
			if _, _, err := e.as.VerifyAccessToken(context.Background(), tok.AccessToken, e.url+"/other/mcp"); err == nil {
				t.Fatal("the mcpgate token was accepted for another resource")
			}

			// The upstream tokens are stored sealed, never in clear.
			sc, err := e.tokens.GetConnection(context.Background(), sub, "idp:entra")
			if err != nil {
				t.Fatalf("stored upstream tokens: %v", err)
			}
			// (A JWT in clear starts with a base64url JSON header such as {"alg", {"typ or
			// {"kid; "eyJ" alone would also turn up by chance in about 2% of ciphertexts.)
			for _, jwtStart := range []string{"eyJhbGci", "eyJ0eXAi", "eyJraWQi"} {
				if strings.Contains(sc.Sealed, jwtStart) || sc.Sealed == "" {
					t.Fatalf("stored upstream tokens are not sealed: %.40s...", sc.Sealed)
				}
			}

			// Refresh: once the stored Entra token is about to expire, the next assertion is a
			// new token obtained with the stored refresh token.
			conn := e.fed.For(sub)
			before, err := conn.UpstreamToken(context.Background(), sub)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(sc.Sealed, before) {
				t.Fatal("the stored connection holds the upstream token in clear")
			}
			e.clock.advance(2 * time.Hour)
			s.idpClock.advance(2 * time.Hour)
			after, err := conn.UpstreamToken(context.Background(), sub)
			if err != nil {
				t.Fatalf("refresh: %v", err)
			}
			sc2, _ := e.tokens.GetConnection(context.Background(), sub, "idp:entra")
			if after == before || sc2.Version != sc.Version+1 {
				t.Fatalf("refresh did not replace the stored token (same=%v, version %d -> %d)", after == before, sc.Version, sc2.Version)
			}
			// And the refreshed token is a valid OBO assertion.
			a, err := e.fed.SubjectToken(context.Background(), upstream.Request{Principal: &authn.Principal{Subject: sub}})
			if err != nil || a != after {
				t.Fatalf("SubjectToken = (%v), want the refreshed token", err)
			}
		})
	}
}

// TestConfusedDeputy: consent is per user AND per mcpgate client. Even when the upstream IdP
// signs the user in silently (SSO), a second dynamically registered client gets no code
// without its own consent, and a consent for one client does not carry to another. The
// upstream callback only counts in the browser that started the sign-in.
func TestConfusedDeputy(t *testing.T) {
	e := entraEnv(t, entraSetup{version: 2}, nil, nil)
	b := newBrowser(t, "http://127.0.0.1:5555/callback")
	sess, _ := mcpClient(t, e.resource, b, "first client")
	callWhoami(t, sess)

	// A second client (the attacker's, with its own redirect URI), registered dynamically.
	evil := "http://127.0.0.1:6666/steal"
	clientID := register(t, e.url, evil, "Innocent Looking Client")
	authURL := authorizeURL(e, clientID, evil)

	for _, tc := range []struct {
		name string
		b    *browser
		// page is where the consent page is served: for a browser nobody is signed in to,
		// before the redirect to the IdP (which could sign the user in silently).
		page string
	}{
		{"same browser, signed in at mcpgate", b, authserver.PathConsent},
		{"fresh browser, IdP would sign in silently", newBrowser(t, "http://127.0.0.1:5555/callback"), authserver.PathFederatedLogin},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.b.redirect = evil
			resp, body := tc.b.get(authURL)
			if resp.StatusCode/100 == 3 {
				t.Fatalf("the second client got a redirect without consent: %s", resp.Header.Get("Location"))
			}
			if !isConsentPage(body) || !strings.Contains(body, "Innocent Looking Client") || resp.Request.URL.Path != tc.page {
				t.Fatalf("want mcpgate's consent page for the second client at %s, got %d at %s:\n%s", tc.page, resp.StatusCode, resp.Request.URL.Path, body)
			}
			u, _ := url.Parse(e.url)
			for _, c := range tc.b.c.Jar.Cookies(u) {
				if strings.HasPrefix(c.Name, "mcpgate_federated") {
					t.Fatal("the upstream state cookie was set before consent")
				}
			}
			resp, _ = tc.b.consent(resp, body, false)
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if loc == nil || loc.Query().Get("error") != "access_denied" || loc.Query().Get("code") != "" {
				t.Fatalf("denied consent: want access_denied and no code, got %s", resp.Header.Get("Location"))
			}
		})
	}

	// The upstream callback (a valid code and state) replayed in another browser is refused:
	// the state is bound to the browser that started the sign-in by a signed cookie.
	victim := newBrowser(t, evil)
	victim.stopAt = e.url + authserver.PathFederatedCallback
	resp, body := victim.get(authorizeURL(e, clientID, evil))
	resp, _ = victim.consent(resp, body, true)
	cb := resp.Header.Get("Location")
	if !strings.HasPrefix(cb, e.url+authserver.PathFederatedCallback) || !strings.Contains(cb, "code=") {
		t.Fatalf("want the IdP's redirect to mcpgate's callback, got %d %q", resp.StatusCode, cb)
	}
	attacker := newBrowser(t, evil)
	resp, body = attacker.get(cb)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "does not belong to a sign-in started in this browser") {
		t.Fatalf("replayed callback: %d\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(e.logs.String(), "federated callback refused") {
		t.Fatal("the refused callback was not logged")
	}
}

// TestEntraErrors: upstream errors end on mcpgate's error page with the AADSTS code and the
// fix, and are logged with their code.
func TestEntraErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		dir      func(*config.Entra)
		cfg      func(*config.Config)
		code     string
		fixWords string
	}{
		{name: "wrong client secret", cfg: func(c *config.Config) { c.AuthServer.Connectors[0].ClientSecret = "the-secret-id-not-the-value" },
			code: "AADSTS7000215", fixWords: "Value (not its Secret ID)"},
		{name: "unknown scope", cfg: func(c *config.Config) { c.AuthServer.Connectors[0].Scopes = []string{"access_as_admin"} },
			code: "AADSTS650053", fixWords: "Expose an API"},
		{name: "expired secret", dir: func(d *config.Entra) {
			for i := range d.Apps {
				if d.Apps[i].Name == "mcpgate" {
					d.Apps[i].Secrets[0].Expires = "2020-01-01"
				}
			}
		}, code: "AADSTS7000222", fixWords: "create a new one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := entraEnv(t, entraSetup{version: 2}, tc.dir, tc.cfg)
			clientID := register(t, e.url, "http://127.0.0.1:5555/callback", "Client")
			b := newBrowser(t, "http://127.0.0.1:5555/callback")
			resp, body := b.get(authorizeURL(e, clientID, "http://127.0.0.1:5555/callback"))
			resp, body = b.consent(resp, body, true)
			if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, tc.code) || !strings.Contains(body, tc.fixWords) {
				t.Fatalf("want mcpgate's error page with %s and the fix (%q), got %d:\n%s", tc.code, tc.fixWords, resp.StatusCode, body)
			}
			if !strings.Contains(e.logs.String(), "code="+tc.code) {
				t.Fatalf("the error was not logged with its code %s:\n%s", tc.code, e.logs.String())
			}
			if strings.Contains(e.logs.String(), secretVal) || strings.Contains(body, secretVal) {
				t.Fatal("the client secret leaked into the logs or the page")
			}
		})
	}
}

// TestTenantNotAllowed: a multi-tenant connector refuses users from tenants not listed in
// allowedTenants (the id_token's issuer names their tenant).
func TestTenantNotAllowed(t *testing.T) {
	e := entraEnv(t, entraSetup{version: 2, multiTenant: true}, nil, func(c *config.Config) {
		c.AuthServer.Connectors[0].Entra.AllowedTenants = []string{contoso} // the user is from Fabrikam
	})
	b := newBrowser(t, "http://127.0.0.1:5555/callback")
	resp, body := b.get(authorizeURL(e, register(t, e.url, b.redirect, "Client"), b.redirect))
	resp, body = b.consent(resp, body, true)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "could not complete the sign-in") {
		t.Fatalf("want the sign-in failed page, got %d:\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(e.logs.String(), "id_token refused") || !strings.Contains(e.logs.String(), fabrikam) {
		t.Fatalf("the refusal (tenant %s) was not logged:\n%s", fabrikam, e.logs.String())
	}
	if _, err := e.tokens.GetConnection(context.Background(), "entra:"+fabrikam+":"+bobOID, "idp:entra"); err == nil {
		t.Fatal("tokens of a refused user were stored")
	}
}

// TestParallelSignIns: two sign-ins started in two tabs of one browser both complete (each
// has its own state cookie), and each callback only once.
func TestParallelSignIns(t *testing.T) {
	e := entraEnv(t, entraSetup{version: 2}, nil, nil)
	redirect := "http://127.0.0.1:5555/callback"
	b := newBrowser(t, redirect)
	b.stopAt = e.url + authserver.PathFederatedCallback
	id := register(t, e.url, redirect, "Client")
	var callbacks []string
	for range 2 {
		resp, body := b.get(authorizeURL(e, id, redirect))
		resp, _ = b.consent(resp, body, true)
		callbacks = append(callbacks, resp.Header.Get("Location"))
	}
	b.stopAt = ""
	for i, cb := range callbacks {
		resp, body := b.get(cb)
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode/100 != 3 || loc == nil || loc.Query().Get("code") == "" {
			t.Fatalf("sign-in %d did not complete: %d %s\n%s", i+1, resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	if resp, _ := b.get(callbacks[0]); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a used callback was accepted again: %d", resp.StatusCode)
	}
}

// TestUpstreamRefreshRefused: when Entra refuses the stored refresh token (expired), the
// user is forgotten: UpstreamToken says sign in again (obo answers 401 no_caller_token on a
// cache miss), mcpgate's own refresh token stops working, and the next sign-in goes to Entra
// again (the mcpgate session no longer suffices) and works.
func TestUpstreamRefreshRefused(t *testing.T) {
	idpClock := &clock{}
	e := entraEnv(t, entraSetup{version: 2, idpClock: idpClock}, nil, nil)
	b := newBrowser(t, "http://127.0.0.1:5555/callback")
	sess, h := mcpClient(t, e.resource, b, "client")
	callWhoami(t, sess)
	sub := "entra:" + contoso + ":" + aliceOID

	idpClock.advance(25 * time.Hour) // Entra's refresh token (24h in the emulator) is gone
	e.clock.advance(2 * time.Hour)   // mcpgate's stored access token is stale
	if _, err := e.fed.For(sub).UpstreamToken(context.Background(), sub); !errors.Is(err, federation.ErrSignInAgain) {
		t.Fatalf("UpstreamToken = %v, want ErrSignInAgain", err)
	}
	if _, err := e.tokens.GetConnection(context.Background(), sub, "idp:entra"); err == nil {
		t.Fatal("the refused upstream tokens were kept")
	}
	if !strings.Contains(e.logs.String(), "upstream refresh refused") {
		t.Fatal("the refusal was not logged")
	}
	// mcpgate's refresh token no longer works: the user is unknown until they sign in again.
	ts, _ := h.TokenSource(context.Background())
	tok, _ := ts.Token()
	resp, err := http.PostForm(e.url+authserver.PathToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "resource": {e.resource},
		"client_id": {clientIDOf(t, e, tok.AccessToken)}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		t.Fatal("mcpgate refreshed the token of a user whose upstream sign-in is gone")
	}
	// Signing in again goes to Entra (the mcpgate session no longer suffices) and works.
	idpClock.advance(-25 * time.Hour)
	e.clock.advance(-2 * time.Hour)
	sess2, _ := mcpClient(t, e.resource, b, "client again")
	callWhoami(t, sess2)
	if _, err := e.tokens.GetConnection(context.Background(), sub, "idp:entra"); err != nil {
		t.Fatal("signing in again did not store new upstream tokens")
	}
}

func clientIDOf(t *testing.T, e *env, token string) string {
	c, _, err := e.as.VerifyAccessToken(context.Background(), token, e.resource)
	if err != nil {
		t.Fatal(err)
	}
	return c.ClientID
}
