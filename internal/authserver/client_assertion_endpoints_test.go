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
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// signAssertion signs a client assertion for id with key (kid), for aud, valid from now.
func signAssertion(t *testing.T, key *ecdsa.PrivateKey, kid, id, aud string, now time.Time) string {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatal(err)
	}
	s, err := jwt.Signed(signer).Claims(jwt.Claims{Issuer: id, Subject: id, Audience: jwt.Audience{aud}, ID: randomToken(12),
		IssuedAt: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// postForm posts form to path with optional Basic credentials and returns status and JSON.
func postEndpoint(t *testing.T, env *testEnv, path string, form url.Values, user, pass string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, env.issuer+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestPrivateKeyJWTIntrospectAndRevoke: a private_key_jwt client authenticates to the
// introspection and revocation endpoints with client assertions (aud the issuer, the
// token endpoint or that endpoint), as at the token endpoint; a replayed assertion, one
// for another endpoint, or the placeholder secret without an assertion are refused.
func TestPrivateKeyJWTIntrospectAndRevoke(t *testing.T) {
	env := newTestEnv(t, nil)
	meta := env.metadata(t)
	for _, k := range []string{"introspection_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported"} {
		if !strings.Contains(strings.Join(toStrings(meta[k]), " "), AuthMethodPrivateKeyJWT) {
			t.Errorf("%s = %v", k, meta[k])
		}
	}
	c := newPKJClient(t)
	status, out := registerJSON(t, env, map[string]any{"client_name": "pkj-rs", "grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "private_key_jwt", "jwks": c.jwks()})
	if status != 201 {
		t.Fatalf("registration: %d %v", status, out)
	}
	c.id = out["client_id"].(string)
	assert := func(aud string) url.Values {
		return url.Values{"client_assertion_type": {clientAssertionType}, "client_assertion": {signAssertion(t, c.key, c.kid, c.id, aud, time.Now())}}
	}
	form := func(v url.Values, kv ...string) url.Values {
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	tr := env.token(form(assert(env.issuer+PathToken), "grant_type", "client_credentials", "scope", "mcp:tools", "resource", env.resource), "", "")
	if tr.status != 200 {
		t.Fatalf("client credentials: %+v", tr)
	}

	for _, aud := range []string{env.issuer + PathIntrospect, env.issuer, env.issuer + PathToken} {
		if status, in := postEndpoint(t, env, PathIntrospect, form(assert(aud), "token", tr.AccessToken), "", ""); status != 200 || in["active"] != true || in["client_id"] != c.id {
			t.Fatalf("introspection with aud %s: %d %v", aud, status, in)
		}
	}
	replayed := assert(env.issuer + PathIntrospect)
	postEndpoint(t, env, PathIntrospect, form(replayed, "token", tr.AccessToken), "", "")
	refusals := []struct {
		name       string
		path       string
		form       url.Values
		user, pass string
		want       string
	}{
		{"replayed assertion", PathIntrospect, form(replayed, "token", tr.AccessToken), "", "", "already used"},
		{"assertion for the revocation endpoint at introspection", PathIntrospect, form(assert(env.issuer+PathRevoke), "token", tr.AccessToken), "", "", "aud must be"},
		{"placeholder secret without an assertion (op answers 401 without a body)", PathIntrospect, url.Values{"token": {tr.AccessToken}}, c.id, assertedSecret, ""},
		{"assertion and a secret", PathRevoke, form(assert(env.issuer+PathRevoke), "token", tr.AccessToken, "client_secret", "x"), "", "", "one client authentication method"},
	}
	for _, rf := range refusals {
		status, out := postEndpoint(t, env, rf.path, rf.form, rf.user, rf.pass)
		desc, _ := out["error_description"].(string)
		if status == 200 || !strings.Contains(desc, rf.want) {
			t.Errorf("%s: %d %v; want a refusal containing %q", rf.name, status, out, rf.want)
		}
	}

	if status, out := postEndpoint(t, env, PathRevoke, form(assert(env.issuer+PathRevoke), "token", tr.AccessToken), "", ""); status != 200 {
		t.Fatalf("revocation: %d %v", status, out)
	}
	if status, in := postEndpoint(t, env, PathIntrospect, form(assert(env.issuer+PathIntrospect), "token", tr.AccessToken), "", ""); status != 200 || in["active"] != false {
		t.Fatalf("introspection after revocation: %d %v", status, in)
	}
}

// TestJWKSURICache: the keys at a private_key_jwt client's jwks_uri are fetched once and
// reused; a rotated key (new kid) is fetched again, but an unknown kid at most once per
// jwksMinRefresh; the set is refetched after jwksTTL, and kept when the key server fails.
func TestJWKSURICache(t *testing.T) {
	var (
		mu      sync.Mutex
		served  []byte
		fetches atomic.Int32
		down    atomic.Bool
		ahead   atomic.Int64
	)
	keys := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		if down.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		w.Write(served)
	}))
	t.Cleanup(keys.Close)
	now := func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	env := newTestEnv(t, func(o *Options) { o.CIMD.AllowPrivateAddresses = true; o.Now = now })
	k1 := newPKJClient(t)
	serve := func(cs ...*pkjClient) {
		var set jose.JSONWebKeySet
		for _, c := range cs {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: c.key.Public(), KeyID: c.kid, Algorithm: "ES256", Use: "sig"})
		}
		b, _ := json.Marshal(set)
		mu.Lock()
		served = b
		mu.Unlock()
	}
	serve(k1)
	status, out := registerJSON(t, env, map[string]any{"grant_types": []string{"client_credentials"},
		"token_endpoint_auth_method": "private_key_jwt", "jwks_uri": keys.URL + "/jwks.json"})
	if status != 201 {
		t.Fatalf("registration: %d %v", status, out)
	}
	id := out["client_id"].(string)
	token := func(key *ecdsa.PrivateKey, kid string) int {
		tr := env.token(url.Values{"grant_type": {"client_credentials"}, "resource": {env.resource},
			"client_assertion_type": {clientAssertionType}, "client_assertion": {signAssertion(t, key, kid, id, env.issuer, now())}}, "", "")
		return tr.status
	}
	k2 := newPKJClient(t)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	steps := []struct {
		name        string
		before      func()
		key         *ecdsa.PrivateKey
		kid         string
		wantStatus  int
		wantFetches int32
	}{
		{"first use fetches", nil, k1.key, k1.kid, 200, 1},
		{"second use is cached", nil, k1.key, k1.kid, 200, 1},
		{"rotated key, just fetched: not refetched yet", func() { serve(k1, k2) }, k2.key, k2.kid, 401, 1},
		{"rotated key, after jwksMinRefresh: refetched", func() { ahead.Add(int64(jwksMinRefresh + time.Second)) }, k2.key, k2.kid, 200, 2},
		{"unknown kid: no refetch within jwksMinRefresh", nil, other, "nope", 401, 2},
		{"unknown kid again: still none", nil, other, "nope2", 401, 2},
		{"after jwksTTL: refetched", func() { ahead.Add(int64(jwksTTL)) }, k2.key, k2.kid, 200, 3},
		{"key server down after jwksTTL: the last set is kept", func() { down.Store(true); ahead.Add(int64(jwksTTL)) }, k2.key, k2.kid, 200, 4},
		{"key server down beyond jwksStaleMax: refused", func() { ahead.Add(int64(jwksStaleMax)) }, k2.key, k2.kid, 401, 5},
	}
	for _, s := range steps {
		if s.before != nil {
			s.before()
		}
		if got := token(s.key, s.kid); got != s.wantStatus || fetches.Load() != s.wantFetches {
			t.Fatalf("%s: status %d (want %d), fetches %d (want %d)", s.name, got, s.wantStatus, fetches.Load(), s.wantFetches)
		}
	}
}
