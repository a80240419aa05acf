package authn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func baseClaims(clk *clock, iss string) jwt.MapClaims {
	return jwt.MapClaims{"iss": iss, "aud": testAud, "sub": "u", "exp": clk.unix(time.Hour), "iat": clk.unix(0)}
}

// A flood of tokens with random kids causes at most one JWKS fetch per
// unknownKidRefreshInterval, counted at the IdP.
func TestUnknownKIDRefreshIsRateLimited(t *testing.T) {
	clk := newClock()
	k1 := newRSA(t, 0, "k1")
	p := newIDP(t, k1)
	reg := newTestRegistry(t, []Issuer{{Name: "i", Issuer: p.srv.URL, JWKSURL: p.srv.URL + "/keys",
		UnknownKIDRefreshInterval: time.Minute}}, Options{Now: clk.Now})
	v := mustVerifier(t, reg, []string{"i"}, []string{testAud})
	if got := p.jwksHits.Load(); got != 1 {
		t.Fatalf("initial load: %d JWKS requests, want 1", got)
	}
	signer := newRSA(t, 1, "")
	burst := func(n int) {
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok := signer.sign(t, baseClaims(clk, p.srv.URL), map[string]any{"kid": fmt.Sprintf("random-%d", i)})
				_, err := v.Verify(context.Background(), tok)
				if e, ok := err.(*Error); !ok || e.Reason != ReasonUnknownKID {
					t.Errorf("random kid: want unknown_kid, got %v", err)
				}
			}()
		}
		wg.Wait()
	}
	for round, wantHits := range []int64{2, 2, 3} {
		burst(200)
		if got := p.jwksHits.Load(); got != wantHits {
			t.Fatalf("round %d: %d JWKS requests after the burst, want %d", round, got, wantHits)
		}
		switch round {
		case 0:
			clk.Add(30 * time.Second) // still inside the interval
		case 1:
			clk.Add(31 * time.Second) // past it: one more fetch allowed
		}
	}
	// A known key keeps working throughout.
	if _, err := v.Verify(context.Background(), k1.sign(t, baseClaims(clk, p.srv.URL))); err != nil {
		t.Fatal(err)
	}
}

// A new key published by the IdP is picked up on its first token; the key that was
// rotated out stops working, even for tokens already in the cache.
func TestKeyRotation(t *testing.T) {
	clk := newClock()
	k1, k2 := newRSA(t, 0, "k1"), newRSA(t, 1, "k2")
	p := newIDP(t, k1)
	reg := newTestRegistry(t, []Issuer{{Name: "i", Issuer: p.srv.URL, JWKSURL: p.srv.URL + "/keys",
		UnknownKIDRefreshInterval: time.Minute}}, Options{Now: clk.Now})
	v := mustVerifier(t, reg, []string{"i"}, []string{testAud})
	old := k1.sign(t, baseClaims(clk, p.srv.URL))
	if _, err := v.Verify(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	p.setKeys(k2)
	if _, err := v.Verify(context.Background(), k2.sign(t, baseClaims(clk, p.srv.URL))); err != nil {
		t.Fatalf("token signed with the new key: %v", err)
	}
	_, err := v.Verify(context.Background(), old)
	wantReject(t, err, ReasonUnknownKID, old)
}

// With the IdP down, the cached keys keep verifying; an unknown kid is still a rejection,
// not a technical failure, because keys are cached.
func TestIdPDownCachedKeysKeepWorking(t *testing.T) {
	clk := newClock()
	k1 := newRSA(t, 0, "k1")
	p := newIDP(t, k1)
	reg := newTestRegistry(t, []Issuer{{Name: "i", Issuer: p.srv.URL, JWKSURL: p.srv.URL + "/keys",
		RefreshInterval: 20 * time.Millisecond, UnknownKIDRefreshInterval: time.Second}}, Options{Now: clk.Now, CacheSize: -1})
	v := mustVerifier(t, reg, []string{"i"}, []string{testAud})
	p.down.Store(true)
	before := p.jwksHits.Load()
	deadline := time.Now().Add(5 * time.Second)
	for p.jwksHits.Load() < before+2 && time.Now().Before(deadline) { // background refreshes fail
		time.Sleep(10 * time.Millisecond)
	}
	if p.jwksHits.Load() < before+2 {
		t.Fatal("background refresh did not retry")
	}
	for i := range 3 {
		c := baseClaims(clk, p.srv.URL)
		c["n"] = i
		if _, err := v.Verify(context.Background(), k1.sign(t, c)); err != nil {
			t.Fatalf("IdP down, cached key: %v", err)
		}
	}
	clk.Add(2 * time.Second)
	tok := newRSA(t, 1, "new").sign(t, baseClaims(clk, p.srv.URL))
	_, err := v.Verify(context.Background(), tok)
	wantReject(t, err, ReasonUnknownKID, tok)
}

func TestBackgroundRefresh(t *testing.T) {
	k1 := newRSA(t, 0, "k1")
	p := newIDP(t, k1)
	newTestRegistry(t, []Issuer{{Name: "i", Issuer: p.srv.URL, JWKSURL: p.srv.URL + "/keys",
		RefreshInterval: 20 * time.Millisecond}}, Options{})
	deadline := time.Now().Add(5 * time.Second)
	for p.jwksHits.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := p.jwksHits.Load(); got < 4 {
		t.Fatalf("%d JWKS requests, want periodic refreshes", got)
	}
}

func TestKeySources(t *testing.T) {
	clk := newClock()
	k1, k2 := newRSA(t, 0, "k1"), newEC(t, "k2")
	p := newIDP(t, k1, k2)
	dir := t.TempDir()
	file := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(file, []byte(jwksJSON(t, k1)), 0o600); err != nil {
		t.Fatal(err)
	}
	reg := newTestRegistry(t, []Issuer{
		{Name: "url", Issuer: "https://url.example.com", JWKSURL: p.srv.URL + "/keys"},
		{Name: "discovery", Issuer: p.srv.URL},
		{Name: "file", Issuer: "https://file.example.com", JWKSFile: file, UnknownKIDRefreshInterval: time.Minute},
		{Name: "inline", Issuer: "https://inline.example.com", JWKS: jwksJSON(t, k1, k2)},
	}, Options{Now: clk.Now})
	v := mustVerifier(t, reg, []string{"url", "discovery", "file", "inline"}, []string{testAud})
	for _, tc := range []struct {
		iss string
		key *testKey
	}{
		{"https://url.example.com", k2},
		{p.srv.URL, k1},
		{"https://file.example.com", k1},
		{"https://inline.example.com", k2},
	} {
		if _, err := v.Verify(context.Background(), tc.key.sign(t, baseClaims(clk, tc.iss))); err != nil {
			t.Errorf("%s: %v", tc.iss, err)
		}
	}
	if got := p.discHits.Load(); got != 1 {
		t.Errorf("discovery fetched %d times, want 1", got)
	}
	// The file is read again on an unknown kid.
	if err := os.WriteFile(file, []byte(jwksJSON(t, k1, k2)), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), k2.sign(t, baseClaims(clk, "https://file.example.com"))); err != nil {
		t.Errorf("file reloaded on unknown kid: %v", err)
	}
}

func TestDiscoveryIssuerMismatch(t *testing.T) {
	p := newIDP(t, newRSA(t, 0, "k1"))
	p.issuer = "https://someone-else.example.com"
	reg := newTestRegistry(t, []Issuer{{Name: "d", Issuer: p.srv.URL}}, Options{})
	err := reg.WaitReady(context.Background())
	if err == nil || !strings.Contains(err.Error(), "someone-else") {
		t.Fatalf("want a discovery issuer mismatch error, got %v", err)
	}
}

// Issuers with the same key source share one key set (one fetch).
func TestKeySetsAreShared(t *testing.T) {
	p := newIDP(t, newRSA(t, 0, "k1"))
	reg := newTestRegistry(t, []Issuer{
		{Name: "a", Issuer: "https://a.example.com", JWKSURL: p.srv.URL + "/keys"},
		{Name: "b", Issuer: "https://b.example.com", JWKSURL: p.srv.URL + "/keys"},
	}, Options{})
	if a, b := reg.KeySets("a"), reg.KeySets("b"); len(a) != 1 || len(b) != 1 || a[0] != b[0] || a[0].Fetches() != 1 {
		t.Fatal("key sets not shared")
	}
	if got := p.jwksHits.Load(); got != 1 {
		t.Fatalf("%d fetches, want 1", got)
	}
}

func TestCloseStopsGoroutines(t *testing.T) {
	p := newIDP(t, newRSA(t, 0, "k1"))
	tr := &http.Transport{DisableKeepAlives: true}
	client := &http.Client{Transport: tr}
	runtime.GC()
	before := runtime.NumGoroutine()
	var regs []*Registry
	for range 3 {
		r, err := NewRegistry(context.Background(), []Issuer{
			{Name: "u", Issuer: "https://u.example.com", JWKSURL: p.srv.URL + "/keys", RefreshInterval: 5 * time.Millisecond},
			{Name: "d", Issuer: p.srv.URL, RefreshInterval: 5 * time.Millisecond},
		}, Options{HTTPClient: client})
		if err != nil {
			t.Fatal(err)
		}
		regs = append(regs, r)
	}
	time.Sleep(50 * time.Millisecond)
	for _, r := range regs {
		_ = r.Close()
		_ = r.Close()
	}
	deadline := time.Now().Add(3 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Fatalf("%d goroutines after Close, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

// An IdP that is down at start-up is retried in the background (with backoff), and tokens
// verify as soon as it is back.
func TestIdPDownAtStartRecovers(t *testing.T) {
	clk := newClock()
	k1 := newRSA(t, 0, "k1")
	p := newIDP(t, k1)
	p.down.Store(true)
	reg := newTestRegistry(t, []Issuer{{Name: "i", Issuer: p.srv.URL, JWKSURL: p.srv.URL + "/keys"}}, Options{Now: clk.Now})
	v := mustVerifier(t, reg, []string{"i"}, []string{testAud})
	tok := k1.sign(t, baseClaims(clk, p.srv.URL))
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, ErrKeysUnavailable) {
		t.Fatalf("IdP down, nothing cached: want ErrKeysUnavailable, got %v", err)
	}
	p.down.Store(false)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := v.Verify(context.Background(), tok)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("keys never loaded after the IdP came back: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
