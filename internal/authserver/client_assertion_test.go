package authserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// pkjClient is a private_key_jwt client as a Go program would be: an ES256 key, the
// public half registered, assertions signed per request.
type pkjClient struct {
	t   *testing.T
	key *ecdsa.PrivateKey
	kid string
	id  string
}

func newPKJClient(t *testing.T) *pkjClient {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &pkjClient{t: t, key: k, kid: randomToken(8)}
}

func (c *pkjClient) jwks() json.RawMessage {
	b, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: c.key.Public(), KeyID: c.kid, Algorithm: "ES256", Use: "sig"}}})
	return b
}

type assertionOpts struct {
	aud, iss, jti string
	exp           time.Duration
	key           *ecdsa.PrivateKey
}

func (c *pkjClient) assertion(env *testEnv, o assertionOpts) string {
	c.t.Helper()
	key := c.key
	if o.key != nil {
		key = o.key
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", c.kid))
	if err != nil {
		c.t.Fatal(err)
	}
	if o.aud == "" {
		o.aud = env.issuer + PathToken
	}
	if o.iss == "" {
		o.iss = c.id
	}
	if o.jti == "" {
		o.jti = randomToken(12)
	}
	if o.exp == 0 {
		o.exp = time.Minute
	}
	now := time.Now()
	s, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: o.iss, Subject: o.iss, Audience: jwt.Audience{o.aud}, ID: o.jti,
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(o.exp))}).Serialize()
	if err != nil {
		c.t.Fatal(err)
	}
	return s
}

func registerJSON(t *testing.T, env *testEnv, body any) (int, map[string]any) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(env.issuer+PathRegister, "application/json", strings.NewReader(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestPrivateKeyJWT: RFC 7523 client authentication. A client registers jwks (or
// jwks_uri) with token_endpoint_auth_method private_key_jwt and gets tokens with
// client_credentials and with the authorization code (then refresh) by signed
// assertions; the assertion is refused when its jti is reused, its aud, iss or key is
// wrong, exp is missing or too far ahead, or a secret rides along; the client cannot get
// a token without an assertion.
func TestPrivateKeyJWT(t *testing.T) {
	env := newTestEnv(t, nil)
	meta := env.metadata(t)
	if !strings.Contains(strings.Join(toStrings(meta["token_endpoint_auth_methods_supported"]), " "), "private_key_jwt") {
		t.Fatalf("token_endpoint_auth_methods_supported = %v", meta["token_endpoint_auth_methods_supported"])
	}

	c := newPKJClient(t)
	status, out := registerJSON(t, env, map[string]any{"client_name": "pkj", "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "private_key_jwt", "jwks": c.jwks()})
	if status != 201 || out["client_secret"] != nil {
		t.Fatalf("registration: %d %v", status, out)
	}
	c.id = out["client_id"].(string)
	cc := func(assertion string, extra url.Values) tokenResponse {
		f := url.Values{"grant_type": {"client_credentials"}, "scope": {"mcp:tools"}, "resource": {env.resource},
			"client_assertion_type": {clientAssertionType}, "client_assertion": {assertion}}
		for k, v := range extra {
			f[k] = v
		}
		return env.token(f, "", "")
	}
	tr := cc(c.assertion(env, assertionOpts{}), nil)
	if tr.status != 200 {
		t.Fatalf("client credentials: %+v", tr)
	}
	claims, _, err := env.as.VerifyAccessToken(t.Context(), tr.AccessToken, env.resource)
	if err != nil || claims.ClientID != c.id {
		t.Fatalf("claims %+v, %v", claims, err)
	}
	if tr := cc(c.assertion(env, assertionOpts{aud: env.issuer}), url.Values{"client_id": {c.id}}); tr.status != 200 {
		t.Fatalf("aud = issuer, with client_id: %+v", tr)
	}

	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	replayed := c.assertion(env, assertionOpts{jti: "fixed"})
	if tr := cc(replayed, nil); tr.status != 200 {
		t.Fatalf("first use: %+v", tr)
	}
	tests := []struct {
		name      string
		assertion string
		extra     url.Values
		status    int
		want      string
	}{
		{"jti reused", replayed, nil, 401, "already used"},
		{"wrong aud", c.assertion(env, assertionOpts{aud: "https://elsewhere.example/token"}), nil, 401, "aud must be the token endpoint"},
		{"exp too far", c.assertion(env, assertionOpts{exp: time.Hour}), nil, 401, "exp is more than 5m0s ahead"},
		{"expired", c.assertion(env, assertionOpts{exp: -time.Hour}), nil, 401, "expired"},
		{"other key", c.assertion(env, assertionOpts{key: other}), nil, 401, "signature does not verify"},
		{"unknown client", c.assertion(env, assertionOpts{iss: "dcr_nobody"}), nil, 401, "unknown client"},
		{"client_id differs", c.assertion(env, assertionOpts{}), url.Values{"client_id": {"svc"}}, 401, "is not the client_id"},
		{"secret too", c.assertion(env, assertionOpts{}), url.Values{"client_secret": {"x"}}, 400, "one client authentication method"},
		{"not a JWT", "abc.def", nil, 401, "not a JWS"},
		{"wrong type", c.assertion(env, assertionOpts{}), url.Values{"client_assertion_type": {"urn:x"}}, 401, "client_assertion_type must be"},
		{"no assertion", "", url.Values{"client_assertion_type": nil, "client_id": {c.id}}, 401, "private_key_jwt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			extra := tt.extra
			f := url.Values{"grant_type": {"client_credentials"}, "resource": {env.resource},
				"client_assertion_type": {clientAssertionType}, "client_assertion": {tt.assertion}}
			if tt.assertion == "" {
				f.Del("client_assertion")
			}
			for k, v := range extra {
				if v == nil {
					f.Del(k)
				} else {
					f[k] = v
				}
			}
			tr := env.token(f, "", "")
			if tr.status != tt.status || tr.Error == "" || !strings.Contains(tr.ErrorDescription, tt.want) {
				t.Fatalf("got %d %s: %s; want %d containing %q", tr.status, tr.Error, tr.ErrorDescription, tt.status, tt.want)
			}
		})
	}

	t.Run("a secret client cannot use an assertion", func(t *testing.T) {
		status, out := registerJSON(t, env, map[string]any{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "client_secret_basic"})
		if status != 201 {
			t.Fatalf("%d %v", status, out)
		}
		sc := &pkjClient{t: t, key: c.key, kid: c.kid, id: out["client_id"].(string)}
		tr := cc(sc.assertion(env, assertionOpts{}), nil)
		if tr.status != 401 || !strings.Contains(tr.ErrorDescription, "not registered for private_key_jwt") {
			t.Fatalf("%+v", tr)
		}
	})

	t.Run("authorization code and refresh", func(t *testing.T) {
		redirect := "https://app.example.com/cb"
		status, out := registerJSON(t, env, map[string]any{"redirect_uris": []string{redirect}, "grant_types": []string{"authorization_code", "refresh_token"},
			"token_endpoint_auth_method": "private_key_jwt", "jwks": c.jwks(), "application_type": "web"})
		if status != 201 {
			t.Fatalf("%d %v", status, out)
		}
		wc := &pkjClient{t: t, key: c.key, kid: c.kid, id: out["client_id"].(string)}
		p := newPKCE()
		loc := env.browser(redirect).signIn(env.authorizeURL(wc.id, redirect, p, nil), "alice", testPassword, true)
		code := loc.Query().Get("code")
		form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {p.verifier},
			"resource": {env.resource}, "client_assertion_type": {clientAssertionType}, "client_assertion": {wc.assertion(env, assertionOpts{})}}
		tr := env.token(form, "", "")
		if tr.status != 200 || tr.RefreshToken == "" {
			t.Fatalf("code exchange: %+v", tr)
		}
		refresh := tr.RefreshToken
		if tr := env.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {wc.id}}, "", ""); tr.status != 401 {
			t.Fatalf("refresh without an assertion: %+v", tr)
		}
		tr = env.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh},
			"client_assertion_type": {clientAssertionType}, "client_assertion": {wc.assertion(env, assertionOpts{})}}, "", "")
		if tr.status != 200 || tr.AccessToken == "" {
			t.Fatalf("refresh with an assertion: %+v", tr)
		}
	})

	t.Run("jwks_uri", func(t *testing.T) {
		keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(c.jwks()) }))
		defer keys.Close()
		uriEnv := newTestEnv(t, func(o *Options) { o.CIMD.AllowPrivateAddresses = true })
		status, out := registerJSON(t, uriEnv, map[string]any{"grant_types": []string{"client_credentials"},
			"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": keys.URL + "/jwks.json"})
		if status != 201 || out["jwks_uri"] != keys.URL+"/jwks.json" {
			t.Fatalf("registration: %d %v", status, out)
		}
		uc := &pkjClient{t: t, key: c.key, kid: c.kid, id: out["client_id"].(string)}
		tr := uriEnv.token(url.Values{"grant_type": {"client_credentials"}, "resource": {uriEnv.resource},
			"client_assertion_type": {clientAssertionType}, "client_assertion": {uc.assertion(uriEnv, assertionOpts{})}}, "", "")
		if tr.status != 200 {
			t.Fatalf("client credentials: %+v", tr)
		}
	})

	t.Run("registration checks", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			body map[string]any
			want string
		}{
			{"no keys", map[string]any{"token_endpoint_auth_method": "private_key_jwt", "grant_types": []string{"client_credentials"}}, "send jwks or jwks_uri"},
			{"both", map[string]any{"token_endpoint_auth_method": "private_key_jwt", "grant_types": []string{"client_credentials"}, "jwks": c.jwks(), "jwks_uri": "https://k.example/jwks"}, "not both"},
			{"private key", map[string]any{"token_endpoint_auth_method": "private_key_jwt", "grant_types": []string{"client_credentials"}, "jwks": privateJWKS(t, c.key)}, "not a valid public key"},
			{"empty set", map[string]any{"token_endpoint_auth_method": "private_key_jwt", "grant_types": []string{"client_credentials"}, "jwks": map[string]any{"keys": []any{}}}, "no keys"},
		} {
			status, out := registerJSON(t, env, tc.body)
			if status != 400 || out["error"] != "invalid_client_metadata" || !strings.Contains(out["error_description"].(string), tc.want) {
				t.Errorf("%s: %d %v; want invalid_client_metadata containing %q", tc.name, status, out, tc.want)
			}
		}
	})
}

func privateJWKS(t *testing.T, k *ecdsa.PrivateKey) json.RawMessage {
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k, KeyID: "priv", Algorithm: "ES256"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func toStrings(v any) []string {
	var out []string
	if a, ok := v.([]any); ok {
		for _, x := range a {
			s, _ := x.(string)
			out = append(out, s)
		}
	}
	return out
}
