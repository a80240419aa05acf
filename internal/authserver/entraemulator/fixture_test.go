package entraemulator

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/mcpgate/mcpgate/internal/config"
)

const (
	contosoID  = "11111111-1111-4111-8111-111111111111"
	fabrikamID = "22222222-2222-4222-8222-222222222222"

	mcpAPIID   = "aaaaaaaa-0000-4000-8000-000000000001" // middle tier, v2, multi-tenant
	filesAPIID = "aaaaaaaa-0000-4000-8000-000000000002" // downstream, v1
	clientID   = "aaaaaaaa-0000-4000-8000-000000000003" // public desktop client
	daemonID   = "aaaaaaaa-0000-4000-8000-000000000004" // confidential daemon
	reportsID  = "aaaaaaaa-0000-4000-8000-000000000005" // downstream without consent, v2
	webAppID   = "aaaaaaaa-0000-4000-8000-000000000006" // single-tenant web app (Contoso)

	aliceOID = "0a11ce00-0000-4000-8000-000000000001"
	bobOID   = "0b0b0000-0000-4000-8000-000000000002"
	carolOID = "0ca201a0-0000-4000-8000-000000000003"
	daveOID  = "0da7e000-0000-4000-8000-000000000004"

	mcpSecret    = "mcp-api-secret-value"
	daemonSecret = "daemon-secret-value"
	redirectURI  = "http://localhost:3000/callback"
)

// clientCert is a certificate credential of the MCP API app.
type clientCert struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
	pem  string
}

func newClientCert(t testing.TB) clientCert {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "mcp-api"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return clientCert{key: key, cert: cert, pem: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))}
}

// fixture is the directory every test uses: Contoso with a middle-tier MCP API (v2), a
// downstream Files API (v1), a Reports API nobody consented to, a public desktop client
// pre-authorized on the MCP API, a daemon with an application permission, and Fabrikam as a
// second tenant.
func fixture(cert clientCert) *config.Entra {
	groups := []config.EntraGroup{
		{ID: "9a000000-0000-4000-8000-000000000001", DisplayName: "Engineering"},
		{ID: "9a000000-0000-4000-8000-000000000002", DisplayName: "MCP Admins"},
	}
	var many []string
	for i := range 250 {
		id := fmt.Sprintf("9b000000-0000-4000-8000-%012d", i)
		groups = append(groups, config.EntraGroup{ID: id})
		many = append(many, id)
	}
	return &config.Entra{
		Tenants: []config.EntraTenant{{
			ID: contosoID, Domains: []string{"contoso.onmicrosoft.com", "contoso.com"}, DisplayName: "Contoso",
			Groups: groups,
			Users: []config.EntraUser{
				{ObjectID: aliceOID, UserPrincipalName: "alice@contoso.com", DisplayName: "Alice Example", Mail: "alice@contoso.com",
					Password: "alice-pw", Groups: []string{"Engineering", "MCP Admins"},
					AppRoles: []config.EntraAppRoleAssignment{{App: "MCP API", Role: "Tools.Admin"}},
					Consents: []config.EntraUserConsent{{Client: "Desktop client", Scopes: []string{"https://graph.microsoft.com/User.Read"}}}},
				{ObjectID: bobOID, UserPrincipalName: "bob@contoso.com", DisplayName: "Bob", Password: "bob-pw", MFACode: "424242"},
				{ObjectID: carolOID, UserPrincipalName: "carol@contoso.com", DisplayName: "Carol", Password: "carol-pw", Groups: many},
			},
			AdminConsent: []string{"MCP API", "Daemon"},
			ConditionalAccess: []config.EntraConditionalAccess{{Name: "MFA for Files", ID: "cad00000-0000-4000-8000-000000000001",
				Users: []string{"bob@contoso.com"}, Apps: []string{"api://files"}, Require: "mfa"}},
		}, {
			ID: fabrikamID, Domains: []string{"fabrikam.onmicrosoft.com"}, DisplayName: "Fabrikam",
			Users:        []config.EntraUser{{ObjectID: daveOID, UserPrincipalName: "dave@fabrikam.onmicrosoft.com", DisplayName: "Dave", Password: "dave-pw"}},
			AdminConsent: []string{"MCP API"},
		}},
		Apps: []config.EntraApp{
			{Name: "MCP API", ClientID: mcpAPIID, Tenant: contosoID, SignInAudience: "AzureADMultipleOrgs",
				IdentifierURIs: []string{"api://mcp-api"}, AccessTokenAcceptedVersion: 2,
				Secrets:                   []config.EntraSecret{{Value: mcpSecret}, {Value: "old-secret", Expires: "2020-01-01"}},
				Certificates:              []config.EntraCertificate{{PEM: cert.pem}},
				Scopes:                    []config.EntraScope{{Value: "access_as_user", Description: "Use MCP tools as you"}},
				AppRoles:                  []config.EntraAppRole{{Value: "Tools.Admin", AllowedMemberTypes: []string{"User"}}},
				PreAuthorizedApplications: []config.EntraPreAuthorized{{AppID: clientID, Scopes: []string{"access_as_user"}}},
				KnownClientApplications:   []string{clientID},
				RequiredResourceAccess: []config.EntraRequiredAccess{
					{Resource: "api://files", Scopes: []string{"Files.Read"}},
					{Resource: "Microsoft Graph", Scopes: []string{"User.Read"}},
				},
				OptionalClaims: []string{"idtyp"}, GroupMembershipClaims: "SecurityGroup"},
			{Name: "Files API", ClientID: filesAPIID, Tenant: contosoID, SignInAudience: "AzureADMultipleOrgs",
				IdentifierURIs: []string{"api://files"},
				Scopes:         []config.EntraScope{{Value: "Files.Read"}, {Value: "Files.Write", AdminConsentRequired: true}},
				AppRoles:       []config.EntraAppRole{{Value: "Files.ReadAll", AllowedMemberTypes: []string{"Application"}}},
				OptionalClaims: []string{"idtyp"}},
			{Name: "Reports API", ClientID: reportsID, Tenant: contosoID, IdentifierURIs: []string{"api://reports"},
				AccessTokenAcceptedVersion: 2, Scopes: []config.EntraScope{{Value: "Reports.Read"}}},
			{Name: "Desktop client", ClientID: clientID, Tenant: contosoID, SignInAudience: "AzureADMultipleOrgs",
				PublicClient: true, RedirectURIs: []string{redirectURI},
				RequiredResourceAccess: []config.EntraRequiredAccess{{Resource: "api://mcp-api", Scopes: []string{"access_as_user"}}}},
			{Name: "Daemon", ClientID: daemonID, Tenant: contosoID, Secrets: []config.EntraSecret{{Value: daemonSecret}},
				RequiredResourceAccess: []config.EntraRequiredAccess{{Resource: "Files API", Roles: []string{"Files.ReadAll"}}}},
			{Name: "Contoso web", ClientID: webAppID, Tenant: contosoID, RedirectURIs: []string{redirectURI},
				Secrets: []config.EntraSecret{{Value: "web-secret"}}},
		},
	}
}

// env is a running emulator on a TLS loopback listener.
type env struct {
	em   *Emulator
	srv  *httptest.Server
	cert clientCert
	hc   *http.Client
}

func newEnv(t testing.TB, mutate ...func(*config.Entra)) *env {
	t.Helper()
	cert := newClientCert(t)
	cfg := fixture(cert)
	for _, m := range mutate {
		m(cfg)
	}
	srv := httptest.NewUnstartedServer(nil)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // browsers probing the test certificate
	srv.StartTLS()
	t.Cleanup(srv.Close)
	em, err := New(Options{Config: cfg, BaseURL: srv.URL, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	srv.Config.Handler = em.Handler()
	hc := srv.Client()
	jar, _ := cookiejar.New(nil)
	hc.Jar = jar
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &env{em: em, srv: srv, cert: cert, hc: hc}
}

// post sends a form and decodes the JSON answer.
func (e *env) post(t testing.TB, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	resp, err := e.hc.PostForm(e.srv.URL+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("POST %s: %d, not JSON: %s", path, resp.StatusCode, body)
	}
	return resp.StatusCode, m
}

func (e *env) get(t testing.TB, path string) (int, string, http.Header) {
	t.Helper()
	resp, err := e.hc.Get(e.srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

var ctxRE = regexp.MustCompile(`name="ctx" value="([^"]+)"`)

// login runs the authorization code flow with PKCE through the HTML login form (and the
// MFA and consent forms when they appear) and redeems the code.
func (e *env) login(t testing.TB, tenant, client, user, password, scope string, extra url.Values) map[string]any {
	t.Helper()
	code, verifier := e.authorize(t, tenant, client, user, password, scope, extra)
	form := url.Values{"grant_type": {"authorization_code"}, "client_id": {client}, "code": {code},
		"redirect_uri": {redirectURI}, "code_verifier": {verifier}, "scope": {scope}}
	if client == webAppID {
		form.Set("client_secret", "web-secret")
	}
	st, m := e.post(t, "/"+tenant+"/oauth2/v2.0/token", form)
	if st != 200 {
		t.Fatalf("code redemption: %d %v", st, m)
	}
	return m
}

// freshBrowser forgets the cookies (the single sign-on session) of earlier sign-ins, as a
// new browser would.
func (e *env) freshBrowser() { e.hc.Jar, _ = cookiejar.New(nil) }

func (e *env) authorize(t testing.TB, tenant, client, user, password, scope string, extra url.Values) (code, verifier string) {
	t.Helper()
	e.freshBrowser()
	verifier = base64.RawURLEncoding.EncodeToString([]byte(randToken(32)))
	h := sha256.Sum256([]byte(verifier))
	q := url.Values{"client_id": {client}, "response_type": {"code"}, "redirect_uri": {redirectURI}, "scope": {scope},
		"state": {"st4te"}, "nonce": {"n0nce"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(h[:])}, "code_challenge_method": {"S256"}}
	for k, v := range extra {
		q[k] = v
	}
	path := "/" + tenant + "/oauth2/v2.0/authorize"
	st, body, hdr := e.get(t, path+"?"+q.Encode())
	if st == http.StatusFound {
		return codeFrom(t, hdr.Get("Location")), verifier
	}
	if st != 200 {
		t.Fatalf("authorize: %d %s", st, body)
	}
	form := url.Values{"login": {user}, "passwd": {password}}
	for range 4 {
		m := ctxRE.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no login form: %s", body)
		}
		form.Set("ctx", m[1])
		if strings.Contains(body, `name="otc"`) {
			form = url.Values{"ctx": {m[1]}, "otc": {mfaCodeFor(user)}}
		}
		if strings.Contains(body, `value="accept"`) {
			form = url.Values{"ctx": {m[1]}, "consent": {"accept"}}
		}
		resp, err := e.hc.PostForm(e.srv.URL+path, form)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusFound {
			return codeFrom(t, resp.Header.Get("Location")), verifier
		}
		body = string(b)
	}
	t.Fatalf("login did not finish: %s", body)
	return "", ""
}

func mfaCodeFor(user string) string {
	if strings.HasPrefix(user, "bob") {
		return "424242"
	}
	return "123456"
}

func codeFrom(t testing.TB, loc string) string {
	t.Helper()
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("error") != "" {
		t.Fatalf("authorize error: %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != "st4te" {
		t.Fatalf("state not returned: %s", loc)
	}
	return q.Get("code")
}

// verify validates a token as a relying party would: keys from the published JWKS of the
// tenant, RS256, issuer and audience checked.
func (e *env) verify(t testing.TB, tok, jwksPath, iss, aud string) (jwt.MapClaims, *jwt.Token) {
	t.Helper()
	_, body, _ := e.get(t, jwksPath)
	kf, err := keyfunc.NewJWKSetJSON(json.RawMessage(body))
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	claims := jwt.MapClaims{}
	parsed, err := jwt.ParseWithClaims(tok, claims, kf.Keyfunc, jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithIssuer(iss), jwt.WithAudience(aud), jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	if err != nil {
		t.Fatalf("token does not verify against %s (iss %s, aud %s): %v", jwksPath, iss, aud, err)
	}
	return claims, parsed
}

func str(m map[string]any, k string) string { s, _ := m[k].(string); return s }

func (e *env) secretForm(client, secret string, kv ...string) url.Values {
	f := url.Values{"client_id": {client}, "client_secret": {secret}}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return f
}

// assertion builds a client_assertion signed with key.
func assertion(t testing.TB, cert *x509.Certificate, key *rsa.PrivateKey, method jwt.SigningMethod, thumbHeader, iss, aud string, exp time.Duration) string {
	t.Helper()
	now := time.Now()
	tok := jwt.NewWithClaims(method, jwt.MapClaims{"iss": iss, "sub": iss, "aud": aud, "jti": randToken(8),
		"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(exp).Unix()})
	x5t, x5tS256 := thumbprints(cert)
	if thumbHeader == "x5t" {
		tok.Header["x5t"] = x5t
	} else {
		tok.Header["x5t#S256"] = x5tS256
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
