package upstream

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/mcpgate/mcpgate/internal/authn"
)

// tokenServer is a loopback token endpoint that records every form it receives and answers
// with a scripted status and JSON body (fault injection for Entra- and RFC 8693-shaped
// answers).
type tokenServer struct {
	URL   string
	mu    sync.Mutex
	forms []url.Values
	auth  []string
	n     atomic.Int64
	delay time.Duration
	reply func(form url.Values) (int, any)
}

func newTokenServer(t testing.TB, reply func(form url.Values) (int, any)) *tokenServer {
	ts := &tokenServer{reply: reply}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ts.n.Add(1)
		r.ParseForm()
		ts.mu.Lock()
		ts.forms = append(ts.forms, r.PostForm)
		ts.auth = append(ts.auth, r.Header.Get("Authorization"))
		ts.mu.Unlock()
		if ts.delay > 0 {
			time.Sleep(ts.delay)
		}
		st, body := ts.reply(r.PostForm)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(st)
		json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(srv.Close)
	ts.URL = srv.URL + "/tenant-1/oauth2/v2.0/token"
	return ts
}

func (ts *tokenServer) last(t *testing.T) url.Values {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if len(ts.forms) == 0 {
		t.Fatal("token server received nothing")
	}
	return ts.forms[len(ts.forms)-1]
}

func okToken(tok string) func(url.Values) (int, any) {
	return func(url.Values) (int, any) {
		return 200, map[string]any{"token_type": "Bearer", "access_token": tok, "expires_in": 3600, "ext_expires_in": 3600, "scope": "api://weather/.default"}
	}
}

func entraError(status int, code string, codes []int, extra map[string]any) func(url.Values) (int, any) {
	return func(f url.Values) (int, any) {
		body := map[string]any{"error": code, "error_codes": codes, "trace_id": "t", "correlation_id": "c",
			"error_description": "AADSTS" + itoa(codes) + ": something about assertion " + f.Get("assertion") + " Trace ID: t"}
		for k, v := range extra {
			body[k] = v
		}
		return status, body
	}
}

func itoa(c []int) string {
	if len(c) == 0 {
		return ""
	}
	b, _ := json.Marshal(c[0])
	return string(b)
}

const callerToken = "eyJ.caller-user-token.sig"

func callerReq() Request {
	return Request{Principal: &authn.Principal{Subject: "alice", TokenHash: authn.HashToken(callerToken)}, Token: callerToken, Route: "weather"}
}

func TestOBOWireFormat(t *testing.T) {
	ts := newTokenServer(t, okToken("downstream-token"))
	p, err := NewOBO(OBOConfig{TokenURL: ts.URL, Auth: ClientSecretPost{ID: "middle-app", Secret: "s3cret-value"}, Scopes: []string{"api://weather/.default"}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Credential(context.Background(), callerReq())
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Header.Get("Authorization"); got != "Bearer downstream-token" || c.Mode != "obo" {
		t.Fatalf("credential = %q %s", got, c.Mode)
	}
	f := ts.last(t)
	want := map[string]string{
		"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "requested_token_use": "on_behalf_of",
		"assertion": callerToken, "scope": "api://weather/.default", "client_id": "middle-app", "client_secret": "s3cret-value",
	}
	for k, v := range want {
		if f.Get(k) != v {
			t.Errorf("form %s = %q, want %q", k, f.Get(k), v)
		}
	}
	if _, err := NewOBO(OBOConfig{TokenURL: "https://login.microsoftonline.com/common/oauth2/v2.0/token", Auth: ClientSecretPost{ID: "a", Secret: "b"}, Scopes: []string{"x"}}); err == nil {
		t.Fatal("the /common authority was accepted for OBO")
	}
}

func selfSignedCert(t *testing.T) (*rsa.PrivateKey, *x509.Certificate) {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mcpgate"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return k, cert
}

func TestOBOCertificateAssertion(t *testing.T) {
	ts := newTokenServer(t, okToken("downstream-token"))
	key, cert := selfSignedCert(t)
	for _, alg := range []string{"PS256", "RS256"} {
		t.Run(alg, func(t *testing.T) {
			p, _ := NewOBO(OBOConfig{TokenURL: ts.URL, Auth: CertificateAssertion{ID: "middle-app", Key: key, Certificate: cert, Algorithm: alg, Lifetime: time.Hour}, Scopes: []string{"api://weather/.default"}})
			if _, err := p.Credential(context.Background(), callerReq()); err != nil {
				t.Fatal(err)
			}
			f := ts.last(t)
			if f.Get("client_secret") != "" || f.Get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" || f.Get("client_id") != "middle-app" {
				t.Fatalf("form = %v", f)
			}
			var cl jwt.RegisteredClaims
			tok, err := jwt.ParseWithClaims(f.Get("client_assertion"), &cl, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
				jwt.WithValidMethods([]string{alg}), jwt.WithAudience(ts.URL), jwt.WithIssuer("middle-app"), jwt.WithSubject("middle-app"), jwt.WithExpirationRequired())
			if err != nil {
				t.Fatalf("assertion does not verify: %v", err)
			}
			sum := sha256.Sum256(cert.Raw)
			if tok.Header["x5t#S256"] != base64.RawURLEncoding.EncodeToString(sum[:]) || tok.Header["x5t"] == nil {
				t.Fatalf("header = %v", tok.Header)
			}
			if cl.ID == "" || cl.ExpiresAt.Sub(cl.IssuedAt.Time) > 10*time.Minute {
				t.Fatalf("jti/exp wrong: %+v (lifetime must be capped at 10m)", cl)
			}
		})
	}
}

func TestExchangeErrors(t *testing.T) {
	claims := `{"access_token":{"capolids":{"essential":true,"values":["c1"]}}}`
	tests := []struct {
		name      string
		reply     func(url.Values) (int, any)
		check     func(t *testing.T, err error)
		permanent bool
	}{
		{"consent_required", entraError(400, "invalid_grant", []int{65001}, map[string]any{"suberror": "consent_required"}), func(t *testing.T, err error) {
			var cr *ConsentRequired
			if !errors.As(err, &cr) || cr.App != "middle-app" || cr.Scope != "api://weather/.default" || !strings.Contains(cr.Error(), "app middle-app has no consent for scope api://weather/.default, trace id t, correlation id c") {
				t.Fatalf("err = %v", err)
			}
		}, true},
		{"interaction_required", entraError(400, "interaction_required", []int{50076}, map[string]any{"claims": claims}), func(t *testing.T, err error) {
			var cc *ClaimsChallenge
			if !errors.As(err, &cc) || cc.Claims != claims {
				t.Fatalf("err = %v", err)
			}
			h := cc.WWWAuthenticate("https://login.example/authorize")
			if !strings.Contains(h, `error="insufficient_claims"`) || !strings.Contains(h, base64.StdEncoding.EncodeToString([]byte(claims))) {
				t.Fatalf("challenge = %s", h)
			}
		}, true},
		{"user declined consent", entraError(400, "invalid_grant", []int{65004}, nil), func(t *testing.T, err error) {
			var cr *ConsentRequired
			if !errors.As(err, &cr) || cr.ConsentCode() != "AADSTS65004" {
				t.Fatalf("err = %v, want the consent answer with AADSTS65004", err)
			}
		}, true},
		{"misconfigured app", entraError(400, "invalid_client", []int{65005}, nil), func(t *testing.T, err error) {
			wantFailure(ReasonInvalidClient, 400, true)(t, err)
			o := explain("weather", err)
			if !strings.Contains(o.Message, "AADSTS65005: The app requests permissions the resource does not expose") || !strings.Contains(o.Message, "requiredResourceAccess") {
				t.Fatalf("message = %q, want the AADSTS table's cause and fix", o.Message)
			}
		}, true},
		{"expired assertion", entraError(400, "invalid_grant", []int{500133}, nil), wantFailure(ReasonExchangeRefused, 400, true), true},
		{"bad secret", entraError(401, "invalid_client", []int{7000215}, nil), wantFailure(ReasonInvalidClient, 401, true), true},
		{"app not in tenant", entraError(400, "unauthorized_client", []int{700016}, nil), wantFailure(ReasonUnauthorizedClient, 400, true), true},
		{"two resources", entraError(400, "invalid_scope", []int{70011}, nil), wantFailure(ReasonInvalidScope, 400, true), true},
		{"resource missing", entraError(400, "invalid_resource", []int{500011}, nil), wantFailure(ReasonInvalidTarget, 400, true), true},
		{"idp 503", entraError(503, "temporarily_unavailable", nil, nil), wantFailure(ReasonIdPError, 503, false), false},
		{"idp 500 html", func(url.Values) (int, any) { return 500, "oops" }, wantFailure(ReasonIdPError, 500, false), false},
		{"400 without body", func(url.Values) (int, any) { return 400, nil }, wantFailure(ReasonInvalidResponse, 400, true), true},
		{"200 without token", func(url.Values) (int, any) { return 200, map[string]any{"token_type": "Bearer"} }, wantFailure(ReasonInvalidResponse, 200, true), true},
		{"not bearer", func(url.Values) (int, any) { return 200, map[string]any{"token_type": "DPoP", "access_token": "x"} }, wantFailure(ReasonInvalidResponse, 200, true), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := newTokenServer(t, tt.reply)
			cache := NewMemoryCache(10)
			p, _ := NewOBO(OBOConfig{TokenURL: ts.URL, Auth: ClientSecretPost{ID: "middle-app", Secret: "s3cret-value"}, Scopes: []string{"api://weather/.default"}, Cache: CacheOptions{Cache: cache}})
			_, err := p.Credential(context.Background(), callerReq())
			if err == nil {
				t.Fatal("no error")
			}
			tt.check(t, err)
			for _, secret := range []string{callerToken, "s3cret-value"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error leaks a secret: %v", err)
				}
			}
			// Errors are never cached: the next call asks the IdP again.
			p.Credential(context.Background(), callerReq())
			if ts.n.Load() != 2 || cache.Len() != 0 {
				t.Fatalf("token requests = %d, cache entries = %d: errors must not be cached", ts.n.Load(), cache.Len())
			}
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		u := srv.URL
		srv.Close()
		p, _ := NewOBO(OBOConfig{TokenURL: u + "/token", Auth: ClientSecretPost{ID: "a", Secret: "b"}, Scopes: []string{"x"}})
		_, err := p.Credential(context.Background(), callerReq())
		wantFailure(ReasonIdPUnreachable, 0, false)(t, err)
	})
	t.Run("no caller token", func(t *testing.T) {
		p, _ := NewOBO(OBOConfig{TokenURL: "http://127.0.0.1:1/token", Auth: ClientSecretPost{ID: "a", Secret: "b"}, Scopes: []string{"x"}})
		_, err := p.Credential(context.Background(), Request{})
		wantFailure(ReasonNoCallerToken, 0, true)(t, err)
	})
}

func wantFailure(reason string, status int, permanent bool) func(*testing.T, error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var f *Failure
		if !errors.As(err, &f) || f.Reason != reason || f.Status != status || f.Permanent != permanent {
			t.Fatalf("err = %#v, want Failure{Reason:%s Status:%d Permanent:%v}", err, reason, status, permanent)
		}
		if Reason(err) != reason {
			t.Fatalf("Reason(err) = %s", Reason(err))
		}
	}
}

func TestTokenExchangeWireFormat(t *testing.T) {
	reply := func(issued string) func(url.Values) (int, any) {
		return func(url.Values) (int, any) {
			m := map[string]any{"token_type": "Bearer", "access_token": "exchanged", "expires_in": 600}
			if issued != "" {
				m["issued_token_type"] = issued
			}
			return 200, m
		}
	}
	ts := newTokenServer(t, reply(TokenTypeAccessToken))
	p, err := NewTokenExchange(TokenExchangeConfig{
		TokenURL: ts.URL, Auth: ClientSecretBasic{ID: "gateway", Secret: "gw-secret"},
		Audience: "inventory", Resource: []string{"https://inventory.example/mcp"}, Scopes: []string{"inventory.read"},
		RequestedTokenType: TokenTypeAccessToken,
		ActorToken:         func(context.Context) (string, string, error) { return "actor-jwt", TokenTypeJWT, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Credential(context.Background(), callerReq())
	if err != nil || c.Header.Get("Authorization") != "Bearer exchanged" {
		t.Fatalf("credential %v %v", c, err)
	}
	f := ts.last(t)
	want := map[string]string{
		"grant_type": "urn:ietf:params:oauth:grant-type:token-exchange", "subject_token": callerToken,
		"subject_token_type": TokenTypeAccessToken, "audience": "inventory", "resource": "https://inventory.example/mcp",
		"scope": "inventory.read", "requested_token_type": TokenTypeAccessToken, "actor_token": "actor-jwt", "actor_token_type": TokenTypeJWT,
	}
	for k, v := range want {
		if f.Get(k) != v {
			t.Errorf("form %s = %q, want %q", k, f.Get(k), v)
		}
	}
	if f.Get("client_secret") != "" || !strings.HasPrefix(ts.auth[0], "Basic ") {
		t.Errorf("client_secret_basic not used: form %v auth %q", f, ts.auth[0])
	}

	// RFC 8693 requires issued_token_type: an Entra-style answer is refused with a hint.
	ts2 := newTokenServer(t, reply(""))
	p2, _ := NewTokenExchange(TokenExchangeConfig{TokenURL: ts2.URL, Audience: "x"})
	_, err = p2.Credential(context.Background(), callerReq())
	wantFailure(ReasonInvalidResponse, 200, true)(t, err)
	if !strings.Contains(err.Error(), "issued_token_type") || !strings.Contains(err.Error(), "obo") {
		t.Fatalf("err = %v", err)
	}
	// invalid_target exists in RFC 8693.
	ts3 := newTokenServer(t, func(url.Values) (int, any) {
		return 400, map[string]any{"error": "invalid_target", "error_description": "unknown audience"}
	})
	p3, _ := NewTokenExchange(TokenExchangeConfig{TokenURL: ts3.URL, Audience: "x"})
	_, err = p3.Credential(context.Background(), callerReq())
	wantFailure(ReasonInvalidTarget, 400, true)(t, err)
}

// TestExchangeCacheSingleFlight: N concurrent callers with the same token make one
// exchange; another caller token or scope makes its own; an expiring token is exchanged
// again.
func TestExchangeCacheSingleFlight(t *testing.T) {
	ts := newTokenServer(t, okToken("downstream"))
	ts.delay = 50 * time.Millisecond
	clk := newClock()
	cache := NewMemoryCache(100)
	p, _ := NewOBO(OBOConfig{TokenURL: ts.URL, Auth: ClientSecretPost{ID: "a", Secret: "b"}, Scopes: []string{"api://weather/.default"}, Cache: CacheOptions{Cache: cache, Skew: time.Minute}, Now: clk.Now})
	const n = 50
	var wg sync.WaitGroup
	var failures atomic.Int64
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := p.Credential(context.Background(), callerReq()); err != nil {
				failures.Add(1)
			}
		}()
	}
	wg.Wait()
	if failures.Load() != 0 || ts.n.Load() != 1 {
		t.Fatalf("%d concurrent callers made %d exchanges (%d failed), want 1", n, ts.n.Load(), failures.Load())
	}
	c, _ := p.Credential(context.Background(), callerReq())
	if !c.Cached || ts.n.Load() != 1 {
		t.Fatal("second call was not served from the cache")
	}
	other := Request{Principal: &authn.Principal{Subject: "bob", TokenHash: authn.HashToken("bob")}, Token: "bob"}
	p.Credential(context.Background(), other)
	if ts.n.Load() != 2 {
		t.Fatal("another caller's token must make its own exchange")
	}
	clk.Advance(3600*time.Second - 59*time.Second) // inside the skew
	p.Credential(context.Background(), callerReq())
	if ts.n.Load() != 3 {
		t.Fatalf("a token within the skew of its expiry was reused (exchanges = %d)", ts.n.Load())
	}
}

func TestMemoryCacheBounded(t *testing.T) {
	c := NewMemoryCache(3)
	ctx := context.Background()
	exp := time.Now().Add(time.Hour)
	for _, k := range []string{"a", "b", "c"} {
		c.Set(ctx, k, CachedToken{AccessToken: k, ExpiresAt: exp})
	}
	c.Get(ctx, "a") // a is now most recent
	c.Set(ctx, "d", CachedToken{AccessToken: "d", ExpiresAt: exp})
	if _, ok := c.Get(ctx, "b"); ok {
		t.Fatal("least recently used entry b was not evicted")
	}
	for _, k := range []string{"a", "c", "d"} {
		if _, ok := c.Get(ctx, k); !ok {
			t.Fatalf("%s evicted", k)
		}
	}
	c.Set(ctx, "old", CachedToken{AccessToken: "x", ExpiresAt: time.Now().Add(-time.Second)})
	if _, ok := c.Get(ctx, "old"); ok || c.Len() != 2 {
		t.Fatal("expired entry served")
	}
	if CacheKey("h", "u", []string{"b", "a"}) != CacheKey("h", "u", []string{"a", "b"}) || CacheKey("h", "u", []string{"a"}) == CacheKey("h2", "u", []string{"a"}) {
		t.Fatal("cache key must ignore scope order and depend on the caller")
	}
}

func TestClientCredentialsAgainstOIDCProvider(t *testing.T) {
	tp := startThirdParty(t, "http://127.0.0.1:1/unused")
	a := startAPI(t, tp.Issuer, tp.Issuer+"/jwks", tpResource)
	p, err := NewClientCredentials(ClientCredentialsConfig{TokenURL: tp.Issuer + "/token", Auth: ClientSecretBasic{ID: tpAppID, Secret: tpAppSecret},
		Scopes: []string{"api:read"}, Resource: []string{tpResource}, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	c, err := p.Credential(context.Background(), Request{Route: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	st, claims := a.call(t, c)
	if st != 200 || claims["client_id"] != tpAppID || claims["aud"] != tpResource {
		t.Fatalf("api: %d %v", st, claims)
	}
	// App tokens are shared by every caller of the route.
	c2, _ := p.Credential(context.Background(), callerReq())
	if !c2.Cached || tp.stats(t).Token["client_credentials"] != 1 {
		t.Fatalf("client credentials token not reused (grants = %v)", tp.stats(t).Token)
	}
	// A wrong secret is a permanent invalid_client that does not echo the secret.
	bad, _ := NewClientCredentials(ClientCredentialsConfig{TokenURL: tp.Issuer + "/token", Auth: ClientSecretBasic{ID: tpAppID, Secret: "wrong-secret-value"}, Resource: []string{tpResource}})
	_, err = bad.Credential(context.Background(), Request{})
	wantFailure(ReasonInvalidClient, 401, true)(t, err)
	if strings.Contains(err.Error(), "wrong-secret-value") {
		t.Fatal("secret leaked")
	}
}

func TestGatewayJWTVerifiedWithPublishedJWKS(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name string
		keys []crypto.Signer
	}{{"ES256", []crypto.Signer{ecKey, rsaKey}}, {"RS256", []crypto.Signer{rsaKey}}} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewGatewaySigner("https://mcp.example.com", tc.keys...)
			if err != nil {
				t.Fatal(err)
			}
			jwksSrv := httptest.NewServer(s.JWKSHandler())
			defer jwksSrv.Close()
			// The upstream knows only the JWKS URL, the issuer and its own audience.
			kf, err := keyfunc.NewDefaultCtx(t.Context(), []string{jwksSrv.URL})
			if err != nil {
				t.Fatal(err)
			}
			p, _ := NewGatewayJWT(GatewayJWTConfig{Signer: s, Audience: "https://weather.internal"})
			pr := &authn.Principal{Subject: "alice", Email: "alice@example.com", Name: "Alice", Groups: []string{"finance"}, ClientID: "vscode"}
			c, err := p.Credential(context.Background(), Request{Principal: pr})
			if err != nil {
				t.Fatal(err)
			}
			raw := strings.TrimPrefix(c.Header.Get("Authorization"), "Bearer ")
			var cl GatewayClaims
			tok, err := jwt.ParseWithClaims(raw, &cl, kf.Keyfunc, jwt.WithIssuer("https://mcp.example.com"), jwt.WithAudience("https://weather.internal"), jwt.WithExpirationRequired(), jwt.WithValidMethods([]string{tc.name}))
			if err != nil || !tok.Valid {
				t.Fatalf("upstream cannot verify: %v", err)
			}
			if cl.Subject != "alice" || cl.Email != "alice@example.com" || cl.Name != "Alice" || len(cl.Groups) != 1 || cl.Act == nil || cl.Act.Sub != "vscode" {
				t.Fatalf("claims = %+v", cl)
			}
			if life := cl.ExpiresAt.Sub(cl.IssuedAt.Time); life != 60*time.Second {
				t.Fatalf("lifetime %v, want 60s", life)
			}
			// Another audience or a key not in the JWKS fails.
			if _, err := jwt.ParseWithClaims(raw, &GatewayClaims{}, kf.Keyfunc, jwt.WithAudience("https://other")); err == nil {
				t.Fatal("wrong audience accepted")
			}
			otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			other, _ := NewGatewaySigner("https://mcp.example.com", otherKey)
			po, _ := NewGatewayJWT(GatewayJWTConfig{Signer: other, Audience: "https://weather.internal"})
			oc, _ := po.Credential(context.Background(), Request{Principal: pr})
			if _, err := jwt.Parse(strings.TrimPrefix(oc.Header.Get("Authorization"), "Bearer "), kf.Keyfunc); err == nil {
				t.Fatal("token signed with an unpublished key verified")
			}
		})
	}
	s, _ := NewGatewaySigner("https://mcp.example.com", ecKey)
	p, _ := NewGatewayJWT(GatewayJWTConfig{Signer: s, Audience: "x"})
	_, err := p.Credential(context.Background(), Request{})
	wantFailure(ReasonNoPrincipal, 0, true)(t, err)
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := NewGatewaySigner("https://x", small); err == nil {
		t.Fatal("1024-bit RSA accepted")
	}
}

func TestStaticAndPassthrough(t *testing.T) {
	file := t.TempDir() + "/key"
	writeFile(t, file, "from-file\n")
	tests := []struct {
		name    string
		cfg     StaticConfig
		header  string
		want    string
		wantErr bool
	}{
		{"inline bearer", StaticConfig{Value: "abc", Prefix: "Bearer "}, "Authorization", "Bearer abc", false},
		{"file custom header", StaticConfig{Header: "X-API-Key", ValueFile: file}, "X-Api-Key", "from-file", false},
		{"both", StaticConfig{Value: "a", ValueFile: file}, "", "", true},
		{"none", StaticConfig{}, "", "", true},
		{"missing file", StaticConfig{ValueFile: file + ".missing"}, "", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := NewStatic(tt.cfg)
			if tt.wantErr {
				if err == nil {
					t.Fatal("accepted")
				}
				return
			}
			c, err := p.Credential(context.Background(), Request{})
			if err != nil || c.Header.Get(tt.header) != tt.want {
				t.Fatalf("%v %v", c.Header, err)
			}
		})
	}
	c, err := NewPassthrough().Credential(context.Background(), callerReq())
	if err != nil || c.Header.Get("Authorization") != "Bearer "+callerToken {
		t.Fatal("passthrough did not forward")
	}
	_, err = NewPassthrough().Credential(context.Background(), Request{})
	wantFailure(ReasonNoCallerToken, 0, true)(t, err)
}
