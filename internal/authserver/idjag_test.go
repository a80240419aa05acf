package authserver

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// fakeIdP is an enterprise IdP that signs ID-JAGs with an RSA key.
type fakeIdP struct {
	t      *testing.T
	issuer string
	key    *rsa.PrivateKey
	kid    string
}

func newFakeIdP(t *testing.T, issuer string) *fakeIdP {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return &fakeIdP{t: t, issuer: issuer, key: k, kid: "idp-key-1"}
}

func (p *fakeIdP) jwks() string {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &p.key.PublicKey, KeyID: p.kid, Algorithm: "RS256", Use: "sig"}}})
	if err != nil {
		p.t.Fatal(err)
	}
	return string(b)
}

// claims are a valid ID-JAG's claims for client agent, user-1, resource res, aud as.
func (p *fakeIdP) claims(as, res string) map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": p.issuer, "sub": "user-1", "aud": as, "client_id": "agent", "jti": randomToken(12),
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "resource": res, "scope": "mcp:tools",
		"email": "user1@acme.example", "name": "User One", "groups": []string{"acme-eng"},
	}
}

// sign signs claims with the IdP's key (or key, when not nil) with the typ header typ
// (none: no typ).
func (p *fakeIdP) sign(c map[string]any, typ string, key *rsa.PrivateKey) string {
	if key == nil {
		key = p.key
	}
	opts := (&jose.SignerOptions{}).WithHeader("kid", p.kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key}, opts)
	if err != nil {
		p.t.Fatal(err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		p.t.Fatal(err)
	}
	return tok
}

// unsigned builds a JWT with header h and signature sig(signing input).
func unsignedJWT(h map[string]any, c map[string]any, sig func(in string) string) string {
	hb, _ := json.Marshal(h)
	cb, _ := json.Marshal(c)
	in := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	return in + "." + sig(in)
}

const (
	rasIssuer   = "https://mcp.example.com"
	rasResource = "https://mcp.example.com/weather/mcp"
	agentSecret = "agent-secret-0123456789"
)

// newResourceAS is a resource authorization server (no listener: handlers are called
// directly) trusting idp, with the confidential client agent allowed the jwt-bearer grant.
func newResourceAS(t *testing.T, st store.Store, idp *fakeIdP, logs *logBuffer) *Server {
	t.Helper()
	var h slog.Handler = slog.NewTextHandler(t.Output(), nil)
	if logs != nil {
		h = slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})
	}
	as, err := New(context.Background(), Options{
		Issuer: rasIssuer, Store: st, Logger: slog.New(h),
		Resources: func() []string { return []string{rasResource, rasIssuer + "/other/mcp"} },
		Scopes:    []string{"mcp:tools"},
		Clients: []StaticClient{
			{ID: "agent", Secret: agentSecret, GrantTypes: []string{GrantTypeJWTBearer}},
			{ID: "other", Secret: "other-secret-0123456789", GrantTypes: []string{GrantTypeJWTBearer}},
			{ID: "nojwt", Secret: "nojwt-secret-0123456789", GrantTypes: []string{"client_credentials"}},
		},
		EnterpriseIdPs: []EnterpriseIdP{{Name: "acme", Issuer: idp.issuer, JWKS: idp.jwks(),
			GroupMapping: map[string][]string{"acme-eng": {"eng"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func postForm(h http.Handler, path string, form url.Values, user, pass string) (int, map[string]any) {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var out map[string]any
	json.Unmarshal(rec.Body.Bytes(), &out)
	return rec.Code, out
}

func jwtBearer(assertion string, extra url.Values) url.Values {
	f := url.Values{"grant_type": {GrantTypeJWTBearer}, "assertion": {assertion}}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

func jwtClaims(t *testing.T, tok string) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestIDJAGGrant: a valid ID-JAG gets an access token bound to its resource, with the
// IdP's user (provisioned, groups mapped), the intersection of scopes and the origin
// marker; the metadata advertises the grant and the profile.
func TestIDJAGGrant(t *testing.T) {
	idp := newFakeIdP(t, "https://idp.acme.example")
	as := newResourceAS(t, store.NewMemory(), idp, nil)
	h := as.Handler()

	c := idp.claims(rasIssuer, rasResource)
	c["scope"] = "mcp:tools admin:all" // admin:all is not a scope of this server: dropped
	code, body := postForm(h, PathToken, jwtBearer(idp.sign(c, IDJAGJWTType, nil), url.Values{"scope": {"mcp:tools other"}}), "agent", agentSecret)
	if code != 200 {
		t.Fatalf("jwt-bearer: %d %v", code, body)
	}
	if body["token_type"] != "Bearer" || body["scope"] != "mcp:tools" || body["refresh_token"] != nil {
		t.Fatalf("response = %v", body)
	}
	tok := body["access_token"].(string)
	ac, all, err := as.VerifyAccessToken(context.Background(), tok, rasResource)
	if err != nil {
		t.Fatalf("the access token does not verify for the resource: %v", err)
	}
	if ac.Subject != "acme:user-1" || ac.Email != "user1@acme.example" || !slices.Equal(ac.Groups, []string{"eng"}) || ac.ClientID != "agent" {
		t.Fatalf("claims = %+v", ac)
	}
	if all[ClaimIDJAGIssuer] != idp.issuer || all[ClaimIDJAGIdP] != "acme" {
		t.Fatalf("origin claims = %v %v", all[ClaimIDJAGIssuer], all[ClaimIDJAGIdP])
	}
	if _, _, err := as.VerifyAccessToken(context.Background(), tok, rasIssuer+"/other/mcp"); err == nil {
		t.Fatal("the token is accepted for another route")
	}

	// Without a scope parameter the asserted (known) scopes are granted.
	code, body = postForm(h, PathToken, jwtBearer(idp.sign(idp.claims(rasIssuer, rasResource), IDJAGJWTType, nil), nil), "agent", agentSecret)
	if code != 200 || body["scope"] != "mcp:tools" {
		t.Fatalf("without scope: %d %v", code, body)
	}

	m := as.metadata()
	if !slices.Contains(m["grant_types_supported"].([]string), GrantTypeJWTBearer) ||
		!slices.Equal(m["authorization_grant_profiles_supported"].([]string), []string{GrantProfileIDJAG}) {
		t.Fatalf("metadata: %v / %v", m["grant_types_supported"], m["authorization_grant_profiles_supported"])
	}
}

// TestIDJAGRefusals refuses every bad ID-JAG with invalid_grant naming the failed check,
// and never logs an assertion.
func TestIDJAGRefusals(t *testing.T) {
	idp := newFakeIdP(t, "https://idp.acme.example")
	logs := &logBuffer{t: t}
	as := newResourceAS(t, store.NewMemory(), idp, logs)
	h := as.Handler()
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	pubDER, _ := x509.MarshalPKIXPublicKey(&idp.key.PublicKey)
	good := func() map[string]any { return idp.claims(rasIssuer, rasResource) }
	with := func(k string, v any) map[string]any {
		c := good()
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	replayed := idp.sign(good(), IDJAGJWTType, nil)
	if code, body := postForm(h, PathToken, jwtBearer(replayed, nil), "agent", agentSecret); code != 200 {
		t.Fatalf("first use: %d %v", code, body)
	}
	now := time.Now()

	tests := []struct {
		name       string
		assertion  string
		extra      url.Values
		user, pass string
		status     int
		err, check string
	}{
		{"absent typ", idp.sign(good(), "", nil), nil, "agent", agentSecret, 400, "invalid_grant", "typ"},
		{"wrong typ", idp.sign(good(), "JWT", nil), nil, "agent", agentSecret, 400, "invalid_grant", "typ"},
		{"unknown issuer", idp.sign(with("iss", "https://evil.example"), IDJAGJWTType, nil), nil, "agent", agentSecret, 400, "invalid_grant", "iss"},
		{"bad signature", idp.sign(good(), IDJAGJWTType, other), nil, "agent", agentSecret, 400, "invalid_grant", "signature"},
		{"alg none", unsignedJWT(map[string]any{"alg": "none", "typ": IDJAGJWTType, "kid": idp.kid}, good(), func(string) string { return "" }),
			nil, "agent", agentSecret, 400, "invalid_grant", "alg"},
		{"HS256 with the public key", unsignedJWT(map[string]any{"alg": "HS256", "typ": IDJAGJWTType, "kid": idp.kid}, good(), func(in string) string {
			m := hmac.New(sha256.New, pubDER)
			m.Write([]byte(in))
			return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
		}), nil, "agent", agentSecret, 400, "invalid_grant", "alg"},
		{"wrong aud", idp.sign(with("aud", "https://other-as.example"), IDJAGJWTType, nil), nil, "agent", agentSecret, 400, "invalid_grant", "aud"},
		{"expired", idp.sign(with("exp", now.Add(-5*time.Minute).Unix()), IDJAGJWTType, nil), nil, "agent", agentSecret, 400, "invalid_grant", "exp"},
		{"far-future iat", idp.sign(with("iat", now.Add(time.Hour).Unix()), IDJAGJWTType, nil), nil, "agent", agentSecret, 400, "invalid_grant", "iat"},
		{"missing iat", idp.sign(with("iat", nil), IDJAGJWTType, nil), nil, "agent", agentSecret, 400, "invalid_grant", "iat"},
		{"lifetime too long", idp.sign(with("exp", now.Add(2*time.Hour).Unix()), IDJAGJWTType, nil), nil, "agent", agentSecret, 400, "invalid_grant", "lifetime"},
		{"missing jti", idp.sign(with("jti", nil), IDJAGJWTType, nil), nil, "agent", agentSecret, 400, "invalid_grant", "jti"},
		{"missing sub", idp.sign(with("sub", nil), IDJAGJWTType, nil), nil, "agent", agentSecret, 400, "invalid_grant", "sub"},
		{"replayed jti", replayed, nil, "agent", agentSecret, 400, "invalid_grant", "jti"},
		{"client_id mismatch", idp.sign(good(), IDJAGJWTType, nil), nil, "other", "other-secret-0123456789", 400, "invalid_grant", "client_id"},
		{"missing client_id", idp.sign(with("client_id", nil), IDJAGJWTType, nil), nil, "agent", agentSecret, 400, "invalid_grant", "client_id"},
		{"unknown resource", idp.sign(with("resource", "https://elsewhere.example/mcp"), IDJAGJWTType, nil), nil, "agent", agentSecret, 400, "invalid_grant", "resource"},
		{"missing resource", idp.sign(with("resource", nil), IDJAGJWTType, nil), nil, "agent", agentSecret, 400, "invalid_grant", "resource"},
		{"resource parameter differs", idp.sign(good(), IDJAGJWTType, nil), url.Values{"resource": {rasIssuer + "/other/mcp"}}, "agent", agentSecret, 400, "invalid_grant", "resource"},
		{"scope escalation only", idp.sign(good(), IDJAGJWTType, nil), url.Values{"scope": {"admin:all"}}, "agent", agentSecret, 400, "invalid_grant", "scope"},
		{"not a JWT", "not-a-jwt", nil, "agent", agentSecret, 400, "invalid_grant", "format"},
		{"unauthenticated client", idp.sign(good(), IDJAGJWTType, nil), url.Values{"client_id": {"agent"}}, "", "", 401, "invalid_client", ""},
		{"wrong client secret", idp.sign(good(), IDJAGJWTType, nil), nil, "agent", "wrong", 401, "invalid_client", ""},
		{"unknown client", idp.sign(good(), IDJAGJWTType, nil), nil, "mallory", "x", 401, "invalid_client", ""},
		{"client without the grant", idp.sign(good(), IDJAGJWTType, nil), nil, "nojwt", "nojwt-secret-0123456789", 400, "unauthorized_client", ""},
		{"no assertion", "", nil, "agent", agentSecret, 400, "invalid_request", ""},
	}
	var assertions []string
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertions = append(assertions, tt.assertion)
			code, body := postForm(h, PathToken, jwtBearer(tt.assertion, tt.extra), tt.user, tt.pass)
			desc, _ := body["error_description"].(string)
			if code != tt.status || body["error"] != tt.err {
				t.Fatalf("got %d %v, want %d %s", code, body, tt.status, tt.err)
			}
			if tt.check != "" && !strings.HasPrefix(desc, "ID-JAG "+tt.check+" check failed: ") {
				t.Fatalf("description %q does not name the %s check", desc, tt.check)
			}
			if tt.check != "" && !strings.Contains(logs.String(), "check="+tt.check) {
				t.Fatalf("no log line for the %s check", tt.check)
			}
		})
	}
	assertions = append(assertions, replayed)
	out := logs.String()
	for _, a := range assertions {
		if len(a) > 20 && strings.Contains(out, a) {
			t.Fatal("an assertion was logged")
		}
		if parts := strings.Split(a, "."); len(parts) == 3 && len(parts[2]) > 10 && strings.Contains(out, parts[2]) {
			t.Fatal("an assertion's signature was logged")
		}
	}
}

// TestIDJAGReplayAcrossReplicas: a jti used on one replica is refused on another replica
// sharing the PostgreSQL store.
func TestIDJAGReplayAcrossReplicas(t *testing.T) {
	dsn := testutil.PostgresSchema(t)
	open := func() store.Store {
		st, err := store.OpenPostgres(context.Background(), dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	idp := newFakeIdP(t, "https://idp.acme.example")
	a, b := newResourceAS(t, open(), idp, nil), newResourceAS(t, open(), idp, nil)
	tok := idp.sign(idp.claims(rasIssuer, rasResource), IDJAGJWTType, nil)
	if code, body := postForm(a.Handler(), PathToken, jwtBearer(tok, nil), "agent", agentSecret); code != 200 {
		t.Fatalf("replica a: %d %v", code, body)
	}
	code, body := postForm(b.Handler(), PathToken, jwtBearer(tok, nil), "agent", agentSecret)
	if code != 400 || body["error"] != "invalid_grant" || !strings.HasPrefix(body["error_description"].(string), "ID-JAG jti check failed") {
		t.Fatalf("replica b accepted a replayed ID-JAG: %d %v", code, body)
	}
}

// TestIDJAGExistingUsers: with users: existing the ID-JAG's user must be known here, and
// the token carries the local user's own claims.
func TestIDJAGExistingUsers(t *testing.T) {
	idp := newFakeIdP(t, "https://idp.acme.example")
	st := store.NewMemory()
	if err := st.CreateUser(context.Background(), store.User{ID: "u-bob", Username: "bob", Email: "bob@example.com", Groups: []string{"ops"}}); err != nil {
		t.Fatal(err)
	}
	as, err := New(context.Background(), Options{Issuer: rasIssuer, Store: st, Resources: func() []string { return []string{rasResource} },
		Clients:        []StaticClient{{ID: "agent", Secret: agentSecret, GrantTypes: []string{GrantTypeJWTBearer}}},
		EnterpriseIdPs: []EnterpriseIdP{{Name: "acme", Issuer: idp.issuer, JWKS: idp.jwks(), Users: "existing", UserClaim: "preferred_username"}}})
	if err != nil {
		t.Fatal(err)
	}
	c := idp.claims(rasIssuer, rasResource)
	c["preferred_username"] = "bob"
	code, body := postForm(as.Handler(), PathToken, jwtBearer(idp.sign(c, IDJAGJWTType, nil), nil), "agent", agentSecret)
	if code != 200 {
		t.Fatalf("existing user: %d %v", code, body)
	}
	ac := jwtClaims(t, body["access_token"].(string))
	if ac["sub"] != "u-bob" || ac["email"] != "bob@example.com" {
		t.Fatalf("claims = %v", ac)
	}
	c = idp.claims(rasIssuer, rasResource)
	c["preferred_username"] = "carol"
	code, body = postForm(as.Handler(), PathToken, jwtBearer(idp.sign(c, IDJAGJWTType, nil), nil), "agent", agentSecret)
	if code != 400 || !strings.HasPrefix(body["error_description"].(string), "ID-JAG user check failed") {
		t.Fatalf("unknown user: %d %v", code, body)
	}
}

// TestIDJAGRefusesHMACConfig: an IdP configured with HS256 or none does not start.
func TestIDJAGRefusesHMACConfig(t *testing.T) {
	for _, alg := range []string{"HS256", "none"} {
		_, err := New(context.Background(), Options{Issuer: rasIssuer, Store: store.NewMemory(),
			EnterpriseIdPs: []EnterpriseIdP{{Name: "acme", Issuer: "https://idp.example", JWKS: `{"keys":[]}`, Algorithms: []string{alg}}}})
		if err == nil || !strings.Contains(err.Error(), "never accepted") {
			t.Fatalf("%s: %v", alg, err)
		}
	}
}
