package interop

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"math/big"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/authserver/entraemulator"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/upstream"
)

const (
	tenantID  = "11111111-1111-4111-8111-111111111111"
	mcpAPIID  = "aaaaaaaa-0000-4000-8000-000000000001" // mcpgate: the OBO middle tier
	filesID   = "aaaaaaaa-0000-4000-8000-000000000002" // downstream, v1 tokens
	clientID  = "aaaaaaaa-0000-4000-8000-000000000003" // public MCP client
	reportsID = "aaaaaaaa-0000-4000-8000-000000000005" // downstream nobody consented to
	mcpSecret = "mcp-api-secret-value"
)

type env struct {
	srv  *httptest.Server
	key  *rsa.PrivateKey
	cert *x509.Certificate
}

func newEnv(t *testing.T) *env {
	t.Helper()
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(9), Subject: pkix.Name{CommonName: "mcpgate"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cert, _ := x509.ParseCertificate(der)
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	cfg := &config.Entra{
		Tenants: []config.EntraTenant{{
			ID: tenantID, Domains: []string{"contoso.com"}, DisplayName: "Contoso",
			Users: []config.EntraUser{
				{ObjectID: "0a11ce00-0000-4000-8000-000000000001", UserPrincipalName: "alice@contoso.com", DisplayName: "Alice", Password: "alice-pw"},
				{ObjectID: "0b0b0000-0000-4000-8000-000000000002", UserPrincipalName: "bob@contoso.com", DisplayName: "Bob", Password: "bob-pw", MFACode: "424242"},
			},
			AdminConsent: []string{"MCP API"},
			ConditionalAccess: []config.EntraConditionalAccess{{Name: "MFA for Files", ID: "cad00000-0000-4000-8000-000000000001",
				Users: []string{"bob@contoso.com"}, Apps: []string{"api://files"}, Require: "mfa"}},
		}},
		Apps: []config.EntraApp{
			{Name: "MCP API", ClientID: mcpAPIID, Tenant: tenantID, IdentifierURIs: []string{"api://mcp-api"}, AccessTokenAcceptedVersion: 2,
				Secrets: []config.EntraSecret{{Value: mcpSecret}}, Certificates: []config.EntraCertificate{{PEM: certPEM}},
				Scopes:                    []config.EntraScope{{Value: "access_as_user"}},
				PreAuthorizedApplications: []config.EntraPreAuthorized{{AppID: clientID, Scopes: []string{"access_as_user"}}},
				RequiredResourceAccess:    []config.EntraRequiredAccess{{Resource: "api://files", Scopes: []string{"Files.Read"}}}},
			{Name: "Files API", ClientID: filesID, Tenant: tenantID, IdentifierURIs: []string{"api://files"}, Scopes: []config.EntraScope{{Value: "Files.Read"}}},
			{Name: "Reports API", ClientID: reportsID, Tenant: tenantID, IdentifierURIs: []string{"api://reports"}, AccessTokenAcceptedVersion: 2,
				Scopes: []config.EntraScope{{Value: "Reports.Read"}}},
			{Name: "MCP client", ClientID: clientID, Tenant: tenantID, PublicClient: true, RedirectURIs: []string{"http://localhost:3000/callback"}},
		},
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	em, err := entraemulator.New(entraemulator.Options{Config: cfg, BaseURL: srv.URL, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = em.Handler()
	return &env{srv: srv, key: key, cert: cert}
}

func (e *env) tokenURL() string { return e.srv.URL + "/" + tenantID + "/oauth2/v2.0/token" }

// userToken signs a user in (ROPC through the public client) for mcpgate's own API: the
// token an MCP client would present to mcpgate.
func (e *env) userToken(t *testing.T, upn, pw string) string {
	t.Helper()
	resp, err := e.srv.Client().PostForm(e.tokenURL(), url.Values{"grant_type": {"password"}, "client_id": {clientID},
		"username": {upn}, "password": {pw}, "scope": {"api://mcp-api/access_as_user"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	json.NewDecoder(resp.Body).Decode(&m)
	tok, _ := m["access_token"].(string)
	if tok == "" {
		t.Fatalf("sign-in of %s failed: %v", upn, m)
	}
	return tok
}

func req(tok string) upstream.Request {
	return upstream.Request{Principal: &authn.Principal{Subject: "x", TokenHash: authn.HashToken(tok)}, Token: tok, Route: "files"}
}

func TestOBOAgainstEntraEmulator(t *testing.T) {
	e := newEnv(t)
	alice := e.userToken(t, "alice@contoso.com", "alice-pw")
	auths := map[string]upstream.ClientAuth{
		"secret":            upstream.ClientSecretPost{ID: mcpAPIID, Secret: mcpSecret},
		"secret basic":      upstream.ClientSecretBasic{ID: mcpAPIID, Secret: mcpSecret},
		"certificate PS256": upstream.CertificateAssertion{ID: mcpAPIID, Key: e.key, Certificate: e.cert},
		"certificate RS256": upstream.CertificateAssertion{ID: mcpAPIID, Key: e.key, Certificate: e.cert, Algorithm: "RS256"},
	}
	for name, auth := range auths {
		t.Run(name, func(t *testing.T) {
			p, err := upstream.NewOBO(upstream.OBOConfig{TokenURL: e.tokenURL(), Auth: auth, Scopes: []string{"api://files/.default"}, HTTP: e.srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			c, err := p.Credential(context.Background(), req(alice))
			if err != nil {
				t.Fatal(err)
			}
			raw := strings.TrimPrefix(c.Header.Get("Authorization"), "Bearer ")
			cl := jwt.MapClaims{}
			if _, err := jwt.ParseWithClaims(raw, cl, jwtKeyfunc(t, e), jwt.WithValidMethods([]string{"RS256"})); err != nil {
				t.Fatalf("downstream token does not verify with the emulator's keys: %v", err)
			}
			aud, _ := cl["aud"].(string)
			if (aud != "api://files" && aud != filesID) || cl["upn"] != "alice@contoso.com" || cl["appid"] != mcpAPIID || !strings.Contains(cl["scp"].(string), "Files.Read") {
				t.Fatalf("downstream token claims = %v", cl)
			}
		})
	}
}

func jwtKeyfunc(t *testing.T, e *env) jwt.Keyfunc {
	t.Helper()
	resp, err := e.srv.Client().Get(e.srv.URL + "/" + tenantID + "/discovery/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct {
		Keys []struct {
			Kid string   `json:"kid"`
			X5c []string `json:"x5c"`
		} `json:"keys"`
	}
	json.NewDecoder(resp.Body).Decode(&set)
	return func(tok *jwt.Token) (any, error) {
		for _, k := range set.Keys {
			if k.Kid == tok.Header["kid"] && len(k.X5c) > 0 {
				der, _ := base64.StdEncoding.DecodeString(k.X5c[0])
				c, err := x509.ParseCertificate(der)
				if err != nil {
					return nil, err
				}
				return c.PublicKey, nil
			}
		}
		return nil, errors.New("unknown kid")
	}
}

func TestOBOErrorsFromEntraEmulator(t *testing.T) {
	e := newEnv(t)
	alice := e.userToken(t, "alice@contoso.com", "alice-pw")
	bob := e.userToken(t, "bob@contoso.com", "bob-pw")
	secret := upstream.ClientSecretPost{ID: mcpAPIID, Secret: mcpSecret}
	tests := []struct {
		name   string
		auth   upstream.ClientAuth
		scope  string
		caller string
		check  func(t *testing.T, err error)
	}{
		{"no consent for the downstream API", secret, "api://reports/.default", alice, func(t *testing.T, err error) {
			var cr *upstream.ConsentRequired
			if !errors.As(err, &cr) || cr.App != mcpAPIID || cr.Scope != "api://reports/.default" {
				t.Fatalf("err = %v, want ConsentRequired", err)
			}
		}},
		{"conditional access needs MFA", secret, "api://files/.default", bob, func(t *testing.T, err error) {
			var cc *upstream.ClaimsChallenge
			if !errors.As(err, &cc) || !json.Valid([]byte(cc.Claims)) {
				t.Fatalf("err = %v, want ClaimsChallenge with JSON claims", err)
			}
		}},
		{"wrong secret", upstream.ClientSecretPost{ID: mcpAPIID, Secret: "wrong-secret-xyz"}, "api://files/.default", alice, reason(upstream.ReasonInvalidClient, true)},
		{"garbage assertion", secret, "api://files/.default", "not-a-jwt-at-all", reason(upstream.ReasonExchangeRefused, true)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _ := upstream.NewOBO(upstream.OBOConfig{TokenURL: e.tokenURL(), Auth: tt.auth, Scopes: []string{tt.scope}, HTTP: e.srv.Client()})
			_, err := p.Credential(context.Background(), req(tt.caller))
			if err == nil {
				t.Fatal("no error")
			}
			tt.check(t, err)
			if strings.Contains(err.Error(), tt.caller) || strings.Contains(err.Error(), "wrong-secret-xyz") {
				t.Fatalf("error leaks a secret: %v", err)
			}
		})
	}
}

func reason(r string, permanent bool) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		var f *upstream.Failure
		if !errors.As(err, &f) || f.Reason != r || f.Permanent != permanent {
			t.Fatalf("err = %v, want reason %s", err, r)
		}
	}
}
