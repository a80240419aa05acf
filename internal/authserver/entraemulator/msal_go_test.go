package entraemulator

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
)

// msalBody extracts Entra's JSON error document from an MSAL Go error.
func msalBody(t *testing.T, err error) map[string]any {
	t.Helper()
	var ce msalerrors.CallErr
	if !errors.As(err, &ce) {
		t.Fatalf("not an MSAL CallErr: %T %v", err, err)
	}
	s := ce.Err.Error()
	i := strings.Index(s, "{")
	var m map[string]any
	if i < 0 || json.Unmarshal([]byte(s[i:]), &m) != nil {
		t.Fatalf("no JSON in MSAL error: %s", s)
	}
	return m
}

// TestMSALGo drives the emulator with Microsoft's Go library (confidential client, instance
// discovery off, https authority with the test server's CA).
func TestMSALGo(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	authority := e.srv.URL + "/" + contosoID
	secretCred, err := confidential.NewCredFromSecret(mcpSecret)
	if err != nil {
		t.Fatal(err)
	}
	certCred, err := confidential.NewCredFromCert([]*x509.Certificate{e.cert.cert}, e.cert.key)
	if err != nil {
		t.Fatal(err)
	}
	newApp := func(t *testing.T, authority, client string, cred confidential.Credential) confidential.Client {
		app, err := confidential.New(authority, client, cred, confidential.WithHTTPClient(e.srv.Client()), confidential.WithInstanceDiscovery(false))
		if err != nil {
			t.Fatal(err)
		}
		return app
	}
	daemonCred, _ := confidential.NewCredFromSecret(daemonSecret)
	alice := str(e.login(t, contosoID, clientID, "alice@contoso.com", "alice-pw", "api://mcp-api/access_as_user", nil), "access_token")
	bob := str(e.login(t, contosoID, clientID, "bob@contoso.com", "bob-pw", "api://mcp-api/access_as_user", nil), "access_token")
	v1Iss := "https://sts.windows.net/" + contosoID + "/"
	v1Keys := "/" + contosoID + "/discovery/keys"

	t.Run("client credentials, secret", func(t *testing.T) {
		res, err := newApp(t, authority, daemonID, daemonCred).AcquireTokenByCredential(ctx, []string{"api://files/.default"})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := e.verify(t, res.AccessToken, v1Keys, v1Iss, "api://files")
		if roles, _ := c["roles"].([]any); len(roles) != 1 || roles[0] != "Files.ReadAll" {
			t.Fatalf("roles %v", c["roles"])
		}
	})
	t.Run("client credentials, certificate (PS256 x5t#S256)", func(t *testing.T) {
		res, err := newApp(t, authority, mcpAPIID, certCred).AcquireTokenByCredential(ctx, []string{"api://files/.default"})
		if err != nil {
			t.Fatal(err)
		}
		c, _ := e.verify(t, res.AccessToken, v1Keys, v1Iss, "api://files")
		if c["appidacr"] != "2" {
			t.Fatalf("appidacr %v", c["appidacr"])
		}
	})
	for _, tc := range []struct {
		name  string
		auth  string
		cred  confidential.Credential
		scope string
	}{{"secret, tenant by GUID", authority, secretCred, "api://files/Files.Read"},
		{"certificate, tenant by domain", e.srv.URL + "/contoso.onmicrosoft.com", certCred, "api://files/Files.Read"},
		{"secret, organizations authority", e.srv.URL + "/organizations", secretCred, "api://files/Files.Read"},
		{"secret, /.default", authority, secretCred, "api://files/.default"}} {
		t.Run("on-behalf-of, "+tc.name, func(t *testing.T) {
			res, err := newApp(t, tc.auth, mcpAPIID, tc.cred).AcquireTokenOnBehalfOf(ctx, alice, []string{tc.scope})
			if err != nil {
				t.Fatal(err)
			}
			c, _ := e.verify(t, res.AccessToken, v1Keys, v1Iss, "api://files")
			if c["upn"] != "alice@contoso.com" || c["scp"] != "Files.Read" || c["appid"] != mcpAPIID {
				t.Fatalf("claims %v", c)
			}
		})
	}
	errCases := []struct {
		name, assertion, scope, err, sub string
		code                             float64
	}{
		{"consent required", alice, "api://reports/Reports.Read", "invalid_grant", "consent_required", 65001},
		{"conditional access", bob, "api://files/Files.Read", "interaction_required", "basic_action", 50076},
		{"bad assertion", alice[:len(alice)-4] + "AAAA", "api://files/Files.Read", "invalid_grant", "", 50013},
	}
	for _, c := range errCases {
		t.Run("on-behalf-of error: "+c.name, func(t *testing.T) {
			_, err := newApp(t, authority, mcpAPIID, secretCred).AcquireTokenOnBehalfOf(ctx, c.assertion, []string{c.scope})
			if err == nil {
				t.Fatal("no error")
			}
			m := msalBody(t, err)
			codes, _ := m["error_codes"].([]any)
			if m["error"] != c.err || str(m, "suberror") != c.sub || len(codes) != 1 || codes[0] != c.code {
				t.Fatalf("MSAL error body: %v", m)
			}
			if c.code == 50076 && !strings.Contains(str(m, "claims"), "capolids") {
				t.Fatalf("no claims challenge: %v", m)
			}
		})
	}
	t.Run("wrong secret", func(t *testing.T) {
		bad, _ := confidential.NewCredFromSecret("nope")
		_, err := newApp(t, authority, daemonID, bad).AcquireTokenByCredential(ctx, []string{"api://files/.default"})
		if m := msalBody(t, err); m["error"] != "invalid_client" || !strings.HasPrefix(str(m, "error_description"), "AADSTS7000215:") {
			t.Fatalf("%v", m)
		}
	})
}

// TestMountedUnderPrefix serves the emulator under /entra (as `mcpgate serve` mounts it)
// with http.StripPrefix and a BaseURL that includes the prefix; MSAL Go still works,
// including the client assertion audience (the full token URL).
func TestMountedUnderPrefix(t *testing.T) {
	cert := newClientCert(t)
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	em, err := New(Options{Config: fixture(cert), BaseURL: srv.URL + "/entra"})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	em.Mount(mux, "/entra")
	srv.Config.Handler = mux
	cred, _ := confidential.NewCredFromCert([]*x509.Certificate{cert.cert}, cert.key)
	app, err := confidential.New(em.Authority(contosoID), mcpAPIID, cred, confidential.WithHTTPClient(srv.Client()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	res, err := app.AcquireTokenByCredential(context.Background(), []string{"api://files/.default"})
	if err != nil {
		t.Fatal(err)
	}
	if res.AccessToken == "" || em.TokenURL(contosoID) != srv.URL+"/entra/"+contosoID+"/oauth2/v2.0/token" {
		t.Fatalf("token %q, token URL %s", res.AccessToken, em.TokenURL(contosoID))
	}
}

// TestMSALGoUserFlow redeems an authorization code with MSAL Go (PKCE verifier as
// WithChallenge), then lets MSAL use the refresh token silently for another resource: MSAL
// parses the id_token and client_info and builds its account from them.
func TestMSALGoUserFlow(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	code, verifier := e.authorize(t, contosoID, webAppID, "alice@contoso.com", "alice-pw", "api://files/Files.Read openid profile offline_access", nil)
	cred, _ := confidential.NewCredFromSecret("web-secret")
	app, err := confidential.New(e.srv.URL+"/"+contosoID, webAppID, cred, confidential.WithHTTPClient(e.srv.Client()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	res, err := app.AcquireTokenByAuthCode(ctx, code, redirectURI, []string{"api://files/Files.Read"}, confidential.WithChallenge(verifier))
	if err != nil {
		t.Fatal(err)
	}
	if res.Account.PreferredUsername != "alice@contoso.com" || res.Account.HomeAccountID != aliceOID+"."+contosoID || res.IDToken.Oid != aliceOID {
		t.Fatalf("account %+v", res.Account)
	}
	e.verify(t, res.AccessToken, "/"+contosoID+"/discovery/keys", "https://sts.windows.net/"+contosoID+"/", "api://files")
	e.em.GrantConsent(contosoID, aliceOID, webAppID, "https://graph.microsoft.com/User.Read")
	silent, err := app.AcquireTokenSilent(ctx, []string{"User.Read"}, confidential.WithSilentAccount(res.Account))
	if err != nil {
		t.Fatalf("silent refresh for Graph: %v", err)
	}
	c, _ := e.verify(t, silent.AccessToken, "/"+contosoID+"/discovery/keys", "https://sts.windows.net/"+contosoID+"/", GraphResource)
	if c["appid"] != webAppID || c["scp"] != "User.Read" {
		t.Fatalf("claims %v", c)
	}
}
