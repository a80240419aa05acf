package authn

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const testAud = "https://gw.example.com/weather/mcp"

type verifierFixture struct {
	idp   *idp
	clk   *clock
	reg   *Registry
	v     *JWTVerifier
	rsa   *testKey
	ec    *testKey
	other *testKey // not published
}

func newVerifierFixture(t *testing.T) *verifierFixture {
	f := &verifierFixture{clk: newClock(), rsa: newRSA(t, 0, "k1"), ec: newEC(t, "e1"), other: newRSA(t, 1, "k1")}
	f.idp = newIDP(t, f.rsa, f.ec)
	f.reg = newTestRegistry(t, []Issuer{
		{Name: "test", Issuer: f.idp.srv.URL, JWKSURL: f.idp.srv.URL + "/keys", UnknownKIDRefreshInterval: time.Hour},
		{Name: "rsonly", Issuer: "https://rsonly.example.com", JWKSURL: f.idp.srv.URL + "/keys", Algorithms: []string{"RS256"}},
	}, Options{Now: f.clk.Now})
	f.v = mustVerifier(t, f.reg, []string{"test", "rsonly"}, []string{testAud})
	return f
}

func (f *verifierFixture) claims(over map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{
		"iss": f.idp.srv.URL, "aud": testAud, "sub": "user-1",
		"exp": f.clk.unix(time.Hour), "iat": f.clk.unix(0), "nbf": f.clk.unix(0),
	}
	for k, v := range over {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

func TestVerifyRejections(t *testing.T) {
	f := newVerifierFixture(t)
	pubDER, err := x509.MarshalPKIXPublicKey(f.rsa.priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})

	hsWithPublicKey := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, f.claims(nil))
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(pubPEM)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	algNone := func() string {
		tok := jwt.NewWithClaims(jwt.SigningMethodNone, f.claims(nil))
		tok.Header["kid"] = "k1"
		s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tampered := func() string {
		good := f.rsa.sign(t, f.claims(nil))
		evil := f.rsa.sign(t, f.claims(map[string]any{"sub": "admin"}))
		p := strings.Split(good, ".")
		q := strings.Split(evil, ".")
		return p[0] + "." + q[1] + "." + p[2]
	}

	tests := []struct {
		name   string
		token  func() string
		reason string // "" = accepted
		inDesc []string
	}{
		{"valid RS256", func() string { return f.rsa.sign(t, f.claims(nil)) }, "", nil},
		{"valid ES256", func() string { return f.ec.sign(t, f.claims(nil)) }, "", nil},
		{"aud array with an accepted value", func() string {
			return f.rsa.sign(t, f.claims(map[string]any{"aud": []string{"other", testAud}}))
		}, "", nil},
		{"expired within clock skew", func() string { return f.rsa.sign(t, f.claims(map[string]any{"exp": f.clk.unix(-30 * time.Second)})) }, "", nil},
		{"missing", func() string { return "" }, ReasonMissing, nil},
		{"not a JWT", func() string { return "opaque-token-value" }, ReasonMalformed, []string{"not a JWT"}},
		{"garbage segments", func() string { return "a.b.c" }, ReasonMalformed, nil},
		{"bad signature (other key, same kid)", func() string { return f.other.sign(t, f.claims(nil)) }, ReasonBadSignature, []string{"k1"}},
		{"tampered payload", tampered, ReasonBadSignature, nil},
		{"alg none", algNone, ReasonAlgNotAllowed, []string{"alg none"}},
		{"HS256 signed with the RSA public key", hsWithPublicKey, ReasonAlgNotAllowed, []string{"HS256"}},
		{"RS256 header on the EC key", func() string {
			// header claims RS256 but names the EC key: the key's alg must match.
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, f.claims(nil))
			tok.Header["kid"] = "e1"
			s, _ := tok.SignedString(f.rsa.priv)
			return s
		}, ReasonAlgNotAllowed, nil},
		{"alg not on the issuer's list", func() string {
			return f.ec.sign(t, f.claims(map[string]any{"iss": "https://rsonly.example.com"}))
		}, ReasonAlgNotAllowed, []string{"ES256", "rsonly"}},
		{"expired", func() string { return f.rsa.sign(t, f.claims(map[string]any{"exp": f.clk.unix(-2 * time.Minute)})) }, ReasonExpired, []string{"expired", "get a new token"}},
		{"no exp", func() string { return f.rsa.sign(t, f.claims(map[string]any{"exp": nil})) }, ReasonMissingClaim, []string{"exp"}},
		{"exp of the wrong type", func() string { return f.rsa.sign(t, f.claims(map[string]any{"exp": "tomorrow"})) }, ReasonMalformed, nil},
		{"not yet valid", func() string { return f.rsa.sign(t, f.claims(map[string]any{"nbf": f.clk.unix(5 * time.Minute)})) }, ReasonNotYetValid, []string{"not valid before"}},
		{"issued in the future", func() string { return f.rsa.sign(t, f.claims(map[string]any{"iat": f.clk.unix(5 * time.Minute)})) }, ReasonNotYetValid, []string{"issued in the future"}},
		{"wrong issuer", func() string { return f.rsa.sign(t, f.claims(map[string]any{"iss": "https://evil.example.com"})) }, ReasonWrongIssuer, []string{"https://evil.example.com", f.idp.srv.URL}},
		{"no issuer", func() string { return f.rsa.sign(t, f.claims(map[string]any{"iss": nil})) }, ReasonWrongIssuer, nil},
		{"wrong audience", func() string { return f.rsa.sign(t, f.claims(map[string]any{"aud": "api://x"})) }, ReasonWrongAudience, []string{"api://x", testAud, "request a token for resource"}},
		{"no audience", func() string { return f.rsa.sign(t, f.claims(map[string]any{"aud": nil})) }, ReasonWrongAudience, []string{"missing"}},
		{"unknown kid", func() string { return newRSA(t, 2, "rotated-away").sign(t, f.claims(nil)) }, ReasonUnknownKID, []string{"rotated-away"}},
		{"header injection attempt in iss", func() string {
			return f.rsa.sign(t, f.claims(map[string]any{"iss": "x\"\r\nSet-Cookie: a=b\\"}))
		}, ReasonWrongIssuer, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.token()
			p, err := f.v.Verify(context.Background(), tok)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("want accepted, got %v", err)
				}
				if p.Subject != "user-1" || p.TokenHash != HashToken(tok) {
					t.Fatalf("bad principal: %+v", p)
				}
				return
			}
			if p != nil {
				t.Fatalf("want rejection, got principal %+v", p)
			}
			e := wantReject(t, err, tc.reason, tok)
			for _, s := range tc.inDesc {
				if !strings.Contains(e.Description, s) {
					t.Errorf("description %q does not mention %q", e.Description, s)
				}
			}
		})
	}
}

func TestPrincipalMapping(t *testing.T) {
	f := newVerifierFixture(t)
	tests := []struct {
		name   string
		claims map[string]any
		scopes []string
		email  string
		client string
	}{
		{"scope string", map[string]any{"scope": "mcp.tools  mcp.read", "email": "a@x.com", "client_id": "c1"}, []string{"mcp.tools", "mcp.read"}, "a@x.com", "c1"},
		{"scp string (Entra)", map[string]any{"scp": "Tools.Call User.Read", "preferred_username": "b@x.com", "azp": "c2"}, []string{"Tools.Call", "User.Read"}, "b@x.com", "c2"},
		{"scp array", map[string]any{"scp": []string{"a", "b"}, "upn": "c@x.com", "appid": "c3"}, []string{"a", "b"}, "c@x.com", "c3"},
		{"no scopes", map[string]any{}, nil, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := f.claims(tc.claims)
			c["groups"] = []string{"g1", "g2"}
			c["roles"] = "admin"
			c["name"] = "Ada"
			p, err := f.v.Verify(context.Background(), f.rsa.sign(t, c))
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(p.Scopes, tc.scopes) || p.Email != tc.email || p.ClientID != tc.client {
				t.Fatalf("scopes %q email %q client %q; want %q %q %q", p.Scopes, p.Email, p.ClientID, tc.scopes, tc.email, tc.client)
			}
			if !slices.Equal(p.Groups, []string{"g1", "g2"}) || !slices.Equal(p.Roles, []string{"admin"}) || p.Name != "Ada" {
				t.Fatalf("groups/roles/name: %+v", p)
			}
			if p.Issuer != f.idp.srv.URL || !slices.Equal(p.Audience, []string{testAud}) || p.Claims["sub"] != "user-1" {
				t.Fatalf("iss/aud/claims: %+v", p)
			}
			if !p.ExpiresAt.Equal(time.Unix(f.clk.unix(time.Hour), 0)) || p.IssuedAt.IsZero() {
				t.Fatalf("times: %v %v", p.ExpiresAt, p.IssuedAt)
			}
		})
	}
}

func TestClaimMappingAndRequiredClaims(t *testing.T) {
	clk := newClock()
	k := newRSA(t, 0, "k1")
	p := newIDP(t, k)
	reg := newTestRegistry(t, []Issuer{{
		Name: "kc", Issuer: p.srv.URL, JWKSURL: p.srv.URL + "/keys",
		Claims:         &ClaimMapping{Subject: "oid", Email: "mail", Groups: "grp", Roles: "realm_roles", Scopes: "perms", ClientID: "cid"},
		RequiredClaims: []string{"oid"},
	}}, Options{Now: clk.Now})
	v := mustVerifier(t, reg, []string{"kc"}, []string{testAud})
	base := jwt.MapClaims{"iss": p.srv.URL, "aud": testAud, "exp": clk.unix(time.Hour), "sub": "pairwise"}
	c := jwt.MapClaims{"oid": "o-1", "mail": "m@x.com", "grp": []string{"g"}, "realm_roles": []string{"r"}, "perms": []string{"p1"}, "cid": "client"}
	for k2, v2 := range base {
		c[k2] = v2
	}
	pr, err := v.Verify(context.Background(), k.sign(t, c))
	if err != nil {
		t.Fatal(err)
	}
	if pr.Subject != "o-1" || pr.Email != "m@x.com" || pr.Groups[0] != "g" || pr.Roles[0] != "r" || pr.Scopes[0] != "p1" || pr.ClientID != "client" {
		t.Fatalf("mapping not applied: %+v", pr)
	}
	tok := k.sign(t, base)
	_, err = v.Verify(context.Background(), tok)
	wantReject(t, err, ReasonMissingClaim, tok)
}

func TestTechnicalFailureIsNotARejection(t *testing.T) {
	clk := newClock()
	k := newRSA(t, 0, "k1")
	p := newIDP(t, k)
	p.down.Store(true)
	reg := newTestRegistry(t, []Issuer{{Name: "down", Issuer: p.srv.URL, JWKSURL: p.srv.URL + "/keys"}}, Options{Now: clk.Now})
	v := mustVerifier(t, reg, []string{"down"}, []string{testAud})
	_, err := v.Verify(context.Background(), k.sign(t, jwt.MapClaims{"iss": p.srv.URL, "aud": testAud, "exp": clk.unix(time.Hour)}))
	var e *Error
	if err == nil || errors.As(err, &e) || !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("want ErrKeysUnavailable (not a rejection), got %T %v", err, err)
	}
	if reg.WaitReady(context.Background()) == nil {
		t.Fatal("WaitReady should report the key set that has no keys")
	}
}

func TestVerifierConstruction(t *testing.T) {
	k := newRSA(t, 0, "k1")
	inline := jwksJSON(t, k)
	reg := newTestRegistry(t, []Issuer{{Name: "a", Issuer: "https://a.example.com", JWKS: inline}}, Options{})
	if _, err := reg.Verifier(nil, []string{testAud}); err == nil {
		t.Error("no issuers: want error")
	}
	if _, err := reg.Verifier([]string{"nope"}, []string{testAud}); err == nil || !strings.Contains(err.Error(), "a") {
		t.Errorf("unknown issuer: want error naming the defined ones, got %v", err)
	}
	if _, err := reg.Verifier([]string{"a"}, nil); err == nil {
		t.Error("no audiences at all: want error")
	}
	v1, _ := reg.Verifier([]string{"a"}, []string{testAud})
	v2, _ := reg.Verifier([]string{"a", "a"}, []string{testAud})
	if v1 != v2 {
		t.Error("same issuers and audiences should share one verifier")
	}
	for _, bad := range []Issuer{
		{Name: "hs", Issuer: "https://x", JWKS: inline, Algorithms: []string{"HS256"}},
		{Name: "none", Issuer: "https://x", JWKS: inline, Algorithms: []string{"none"}},
		{Name: "badjwks", Issuer: "https://x", JWKS: `{"keys":[]}`},
		{Name: "nofile", Issuer: "https://x", JWKSFile: "/nonexistent/jwks.json"},
		{Name: "entra", Entra: &EntraIssuer{Tenant: "organizations"}},
	} {
		if _, err := NewRegistry(context.Background(), []Issuer{bad}, Options{}); err == nil {
			t.Errorf("issuer %s: want construction error", bad.Name)
		}
	}
}
