package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"
)

func staticFixture(t testing.TB, cacheSize int) (*clock, *testKey, *JWTVerifier, *Registry) {
	clk := newClock()
	k := newRSA(t, 0, "k1")
	store := jwkset.NewMemoryStorage()
	j, err := jwkset.NewJWKFromKey(k.priv.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1", ALG: jwkset.AlgRS256}})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.KeyWrite(context.Background(), j); err != nil {
		t.Fatal(err)
	}
	reg, err := NewRegistry(context.Background(), nil, Options{Now: clk.Now, CacheSize: cacheSize})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reg.Close() })
	if err := reg.AddStatic(Issuer{Name: "self", Issuer: "https://self.example.com", Audiences: []string{testAud}}, store); err != nil {
		t.Fatal(err)
	}
	return clk, k, mustVerifier(t, reg, []string{"self"}, nil), reg
}

// A cached token is not verified again, and the same principal is handed out.
func TestCacheHitDoesNotReverify(t *testing.T) {
	clk, k, v, _ := staticFixture(t, 0)
	tok := k.sign(t, baseClaims(clk, "https://self.example.com"))
	first, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				p, err := v.Verify(context.Background(), tok)
				if err != nil || p != first {
					t.Errorf("cached verify: %v (same principal: %v)", err, p == first)
					return
				}
			}
		}()
	}
	wg.Wait()
	if got := v.Verified(); got != 1 {
		t.Fatalf("%d signature checks for one token, want 1", got)
	}
	// A different token (same claims, other iat) is verified on its own.
	c := baseClaims(clk, "https://self.example.com")
	c["iat"] = clk.unix(-time.Second)
	if _, err := v.Verify(context.Background(), k.sign(t, c)); err != nil || v.Verified() != 2 {
		t.Fatalf("second token: %v, %d checks", err, v.Verified())
	}
}

// The cache never serves a token past its exp: after exp the token is verified afresh
// (accepted within the clock skew, but not cached), and rejected after the skew.
func TestCacheNeverServesExpired(t *testing.T) {
	clk, k, v, _ := staticFixture(t, 0)
	c := baseClaims(clk, "https://self.example.com")
	c["exp"] = clk.unix(10 * time.Second)
	tok := k.sign(t, c)
	for range 3 {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if v.Verified() != 1 {
		t.Fatalf("%d checks before exp, want 1", v.Verified())
	}
	clk.Add(10 * time.Second) // now == exp
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err) // within skew
	}
	if v.Verified() != 2 {
		t.Fatalf("the cache served a token at its exp (%d checks)", v.Verified())
	}
	if _, err := v.Verify(context.Background(), tok); err != nil || v.Verified() != 3 {
		t.Fatalf("a token past exp was cached: %v, %d checks", err, v.Verified())
	}
	clk.Add(61 * time.Second)
	_, err := v.Verify(context.Background(), tok)
	wantReject(t, err, ReasonExpired, tok)
}

func TestCacheIsBounded(t *testing.T) {
	clk, k, v, _ := staticFixture(t, 64)
	for i := range 300 {
		c := baseClaims(clk, "https://self.example.com")
		c["n"] = i
		if _, err := v.Verify(context.Background(), k.sign(t, c)); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.CacheLen(); n > 64 || n < 16 {
		t.Fatalf("cache holds %d entries, want at most 64 (and some)", n)
	}
}

// Removing a static key (KeysChanged) stops its cached tokens at once.
func TestCacheDropsTokensOfRemovedKeys(t *testing.T) {
	clk, k, v, reg := staticFixture(t, 0)
	tok := k.sign(t, baseClaims(clk, "https://self.example.com"))
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	store := reg.issuers["self"].forms[0].keys.Storage()
	if _, err := store.KeyDelete(context.Background(), "k1"); err != nil {
		t.Fatal(err)
	}
	reg.KeysChanged("self")
	_, err := v.Verify(context.Background(), tok)
	wantReject(t, err, ReasonUnknownKID, tok)
}

func TestCacheDisabled(t *testing.T) {
	clk, k, v, _ := staticFixture(t, -1)
	tok := k.sign(t, baseClaims(clk, "https://self.example.com"))
	for i := range 3 {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
		if v.Verified() != int64(i+1) {
			t.Fatalf("cache disabled but %d checks after %d verifies", v.Verified(), i+1)
		}
	}
}

func ExampleRegistry() {
	// Tests and examples only talk to 127.0.0.1: this issuer's keys are inline. In real
	// configurations give jwksURL, jwksFile, only the issuer (OIDC discovery) or an Entra preset.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, _ := jwkset.NewJWKFromKey(key.Public(), jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: "k1", ALG: jwkset.AlgES256}})
	jwks, _ := json.Marshal(jwkset.JWKSMarshal{Keys: []jwkset.JWKMarshal{jwk.Marshal()}})

	reg, err := NewRegistry(context.Background(), []Issuer{{
		Name: "idp", Issuer: "https://idp.example.com", JWKS: string(jwks),
	}}, Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer reg.Close()
	v, err := reg.Verifier([]string{"idp"}, []string{"https://mcp.example.com/weather/mcp"})
	if err != nil {
		fmt.Println(err)
		return
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{
		"iss": "https://idp.example.com", "aud": "https://mcp.example.com/weather/mcp",
		"sub": "ada", "scope": "mcp.tools", "exp": time.Now().Add(time.Hour).Unix(),
	})
	tok.Header["kid"] = "k1"
	raw, _ := tok.SignedString(key)
	p, err := v.Verify(context.Background(), raw)
	fmt.Println(p.Subject, p.Scopes, err)
	// Output: ada [mcp.tools] <nil>
}

// AddKeyFunc: an in-process issuer (like mcpgate's own authorization server) hands its
// JWKS over without HTTP; a rotated-in key is picked up on its first token.
func TestAddKeyFunc(t *testing.T) {
	clk := newClock()
	k1, k2 := newRSA(t, 0, "k1"), newEC(t, "k2")
	var mu sync.Mutex
	current, calls := jwksJSON(t, k1), 0
	load := func(context.Context) ([]byte, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		return []byte(current), nil
	}
	reg, err := NewRegistry(context.Background(), nil, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	if err := reg.AddKeyFunc(Issuer{Name: "as", Issuer: "https://self.example.com", Audiences: []string{testAud}}, load); err != nil {
		t.Fatal(err)
	}
	if calls != 1 {
		t.Fatalf("key func called %d times at AddKeyFunc, want 1", calls)
	}
	v := mustVerifier(t, reg, []string{"as"}, nil)
	if _, err := v.Verify(context.Background(), k1.sign(t, baseClaims(clk, "https://self.example.com"))); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	current = jwksJSON(t, k1, k2)
	mu.Unlock()
	if _, err := v.Verify(context.Background(), k2.sign(t, baseClaims(clk, "https://self.example.com"))); err != nil {
		t.Fatalf("rotated-in key: %v", err)
	}
	failing := func(context.Context) ([]byte, error) { return nil, fmt.Errorf("no keys yet") }
	if err := reg.AddKeyFunc(Issuer{Name: "broken", Issuer: "https://b.example.com"}, failing); err == nil {
		t.Fatal("AddKeyFunc with a failing key func: want error")
	}
}

// Concurrent first requests with the same fresh token share one signature check.
func TestConcurrentColdChecksAreMerged(t *testing.T) {
	clk, k, v, _ := staticFixture(t, 0)
	tok := k.sign(t, baseClaims(clk, "https://self.example.com"))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if got := v.Verified(); got != 1 {
		t.Fatalf("%d signature checks for 16 concurrent requests with one token, want 1", got)
	}
}
