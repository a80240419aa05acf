// Package storetest is the conformance suite every store backend must pass:
//
//	func TestConformance(t *testing.T) { storetest.Run(t, func(t *testing.T) store.Store { ... }) }
package storetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/store"
)

// Run runs every conformance test against fresh stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Clients", testClients},
		{"ClientDisabled", testClientDisabled},
		{"AuthRequests", testAuthRequests},
		{"AuthRequestCodeUnique", testAuthRequestCodeUnique},
		{"RefreshRotation", testRefreshRotation},
		{"RefreshConcurrentUse", testRefreshConcurrentUse},
		{"AccessTokenRevocation", testAccessTokenRevocation},
		{"RevokedAccessTokensSince", testRevokedAccessTokensSince},
		{"IssuedAccessTokens", testIssuedAccessTokens},
		{"DeviceAuth", testDeviceAuth},
		{"Consents", testConsents},
		{"ListConsents", testListConsents},
		{"ListSignIns", testListSignIns},
		{"SigningKeys", testSigningKeys},
		{"RetireSigningKey", testRetireSigningKey},
		{"ServerSecrets", testServerSecrets},
		{"ServerSecretsConcurrentCreate", testServerSecretsConcurrentCreate},
		{"Users", testUsers},
		{"LoginFailures", testLoginFailures},
		{"DeleteExpired", testDeleteExpired},
		{"Audit", testAudit},
		{"Assertions", testAssertions},
		{"BrowserSignOuts", testBrowserSignOuts},
		{"Connections", testConnections},
		{"ConnectionsConcurrentSwap", testConnectionsConcurrentSwap},
		{"ConnectionsListDelete", testConnectionsListDelete},
		{"ConnectionsZeroTimes", testConnectionsZeroTimes},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newStore(t)
			t.Cleanup(func() { s.Close() })
			tc.fn(t, s)
		})
	}
}

var ctx = context.Background()

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

func testClients(t *testing.T, s store.Store) {
	now := time.Now().Truncate(time.Millisecond)
	c := store.Client{ID: "c1", Name: "One", RedirectURIs: []string{"http://127.0.0.1/cb"}, GrantTypes: []string{"authorization_code"}, Source: "dcr", CreatedAt: now}
	must(t, s.CreateClient(ctx, c))
	wantErr(t, s.CreateClient(ctx, c), store.ErrAlreadyExists)
	got, err := s.GetClient(ctx, "c1")
	must(t, err)
	if got.Name != "One" || !slices.Equal(got.RedirectURIs, c.RedirectURIs) || !got.CreatedAt.Equal(now) || !got.Public() {
		t.Fatalf("got %+v", got)
	}
	_, err = s.GetClient(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	must(t, s.CreateClient(ctx, store.Client{ID: "gone", CreatedAt: now, ExpiresAt: now.Add(-time.Second)}))
	_, err = s.GetClient(ctx, "gone")
	wantErr(t, err, store.ErrNotFound)
	list, err := s.ListClients(ctx)
	must(t, err)
	if len(list) != 1 || list[0].ID != "c1" {
		t.Fatalf("list = %+v", list)
	}
	must(t, s.DeleteClient(ctx, "c1"))
	wantErr(t, s.DeleteClient(ctx, "c1"), store.ErrNotFound)
}

func testAuthRequests(t *testing.T, s store.Store) {
	now := time.Now()
	a := store.AuthRequest{ID: "a1", ClientID: "c", RedirectURI: "http://127.0.0.1/cb", Scopes: []string{"openid"}, Resources: []string{"https://h/mcp"}, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	must(t, s.CreateAuthRequest(ctx, a))
	wantErr(t, s.CreateAuthRequest(ctx, a), store.ErrAlreadyExists)
	got, err := s.GetAuthRequest(ctx, "a1")
	must(t, err)
	if got.ClientID != "c" || !slices.Equal(got.Resources, a.Resources) {
		t.Fatalf("got %+v", got)
	}
	_, err = s.GetAuthRequestByCode(ctx, "h1")
	wantErr(t, err, store.ErrNotFound)
	upd, err := s.UpdateAuthRequest(ctx, "a1", func(a *store.AuthRequest) error {
		a.UserID, a.Done, a.CodeHash = "u1", true, "h1"
		return nil
	})
	must(t, err)
	if !upd.Done || upd.UserID != "u1" {
		t.Fatalf("update returned %+v", upd)
	}
	got, err = s.GetAuthRequestByCode(ctx, "h1")
	must(t, err)
	if got.ID != "a1" || !got.Done {
		t.Fatalf("by code: %+v", got)
	}
	// A failing mutate changes nothing.
	boom := errors.New("boom")
	_, err = s.UpdateAuthRequest(ctx, "a1", func(a *store.AuthRequest) error { a.UserID = "x"; return boom })
	wantErr(t, err, boom)
	got, _ = s.GetAuthRequest(ctx, "a1")
	if got.UserID != "u1" {
		t.Fatalf("failed mutate was stored: %+v", got)
	}
	_, err = s.UpdateAuthRequest(ctx, "missing", func(*store.AuthRequest) error { return nil })
	wantErr(t, err, store.ErrNotFound)
	must(t, s.DeleteAuthRequest(ctx, "a1"))
	_, err = s.GetAuthRequestByCode(ctx, "h1")
	wantErr(t, err, store.ErrNotFound)
	// Expired requests are invisible.
	must(t, s.CreateAuthRequest(ctx, store.AuthRequest{ID: "old", CreatedAt: now, ExpiresAt: now.Add(-time.Second)}))
	_, err = s.GetAuthRequest(ctx, "old")
	wantErr(t, err, store.ErrNotFound)
}

func testAuthRequestCodeUnique(t *testing.T, s store.Store) {
	now := time.Now()
	for _, id := range []string{"a", "b"} {
		must(t, s.CreateAuthRequest(ctx, store.AuthRequest{ID: id, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}))
	}
	_, err := s.UpdateAuthRequest(ctx, "a", func(a *store.AuthRequest) error { a.CodeHash = "same"; return nil })
	must(t, err)
	_, err = s.UpdateAuthRequest(ctx, "b", func(a *store.AuthRequest) error { a.CodeHash = "same"; return nil })
	wantErr(t, err, store.ErrAlreadyExists)
}

func rt(id, family string, exp time.Time) store.RefreshToken {
	return store.RefreshToken{ID: id, FamilyID: family, ClientID: "c", UserID: "u", Scopes: []string{"openid", "offline_access"}, Audience: []string{"https://h/mcp"}, CreatedAt: time.Now(), ExpiresAt: exp}
}

func testRefreshRotation(t *testing.T, s store.Store) {
	exp := time.Now().Add(time.Hour)
	must(t, s.CreateRefreshToken(ctx, rt("r1", "f1", exp)))
	must(t, s.CreateRefreshToken(ctx, rt("other", "f2", exp)))
	wantErr(t, s.CreateRefreshToken(ctx, rt("r1", "f1", exp)), store.ErrAlreadyExists)
	got, err := s.UseRefreshToken(ctx, "r1", time.Now())
	must(t, err)
	if got.FamilyID != "f1" || got.UsedAt.IsZero() || !slices.Equal(got.Audience, []string{"https://h/mcp"}) {
		t.Fatalf("used token = %+v", got)
	}
	must(t, s.CreateRefreshToken(ctx, rt("r2", "f1", exp)))
	// Replay of r1: reported with the row so the family can be revoked.
	got, err = s.UseRefreshToken(ctx, "r1", time.Now())
	wantErr(t, err, store.ErrRefreshReused)
	if got.FamilyID != "f1" {
		t.Fatalf("replayed token row = %+v", got)
	}
	n, err := s.RevokeFamily(ctx, "f1")
	must(t, err)
	if n != 1 { // r1 already used-but-not-revoked counts too; r2 is the live one
		if n != 2 {
			t.Fatalf("revoked %d tokens, want 1 or 2", n)
		}
	}
	_, err = s.UseRefreshToken(ctx, "r2", time.Now())
	wantErr(t, err, store.ErrRefreshReused)
	r2, err := s.GetRefreshToken(ctx, "r2")
	must(t, err)
	if !r2.Revoked {
		t.Fatal("r2 not revoked with its family")
	}
	// Other families are untouched.
	if _, err := s.UseRefreshToken(ctx, "other", time.Now()); err != nil {
		t.Fatalf("other family: %v", err)
	}
	_, err = s.UseRefreshToken(ctx, "missing", time.Now())
	wantErr(t, err, store.ErrNotFound)
	must(t, s.CreateRefreshToken(ctx, rt("expired", "f3", time.Now().Add(-time.Second))))
	_, err = s.UseRefreshToken(ctx, "expired", time.Now())
	wantErr(t, err, store.ErrNotFound)
	must(t, s.CreateRefreshToken(ctx, rt("uc", "f4", exp)))
	n, err = s.RevokeUserClient(ctx, "u", "c")
	must(t, err)
	if n < 1 {
		t.Fatalf("RevokeUserClient revoked %d", n)
	}
	_, err = s.UseRefreshToken(ctx, "uc", time.Now())
	wantErr(t, err, store.ErrRefreshReused)
}

// Exactly one of many concurrent uses of the same refresh token wins.
func testRefreshConcurrentUse(t *testing.T, s store.Store) {
	must(t, s.CreateRefreshToken(ctx, rt("race", "f", time.Now().Add(time.Hour))))
	var wins, reused atomic.Int32
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			_, err := s.UseRefreshToken(ctx, "race", time.Now())
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrRefreshReused):
				reused.Add(1)
			default:
				t.Errorf("unexpected error: %v", err)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 || reused.Load() != 15 {
		t.Fatalf("wins=%d reused=%d, want 1 and 15", wins.Load(), reused.Load())
	}
}

func testAccessTokenRevocation(t *testing.T, s store.Store) {
	ok, err := s.AccessTokenRevoked(ctx, "j1")
	must(t, err)
	if ok {
		t.Fatal("unknown jti reported revoked")
	}
	must(t, s.RevokeAccessToken(ctx, "j1", time.Now().Add(time.Hour)))
	must(t, s.RevokeAccessToken(ctx, "j1", time.Now().Add(time.Hour))) // idempotent
	ok, err = s.AccessTokenRevoked(ctx, "j1")
	must(t, err)
	if !ok {
		t.Fatal("revoked jti not reported")
	}
}

// testRevokedAccessTokensSince: the poll of a verifier's revocation list sees every
// revocation stamped at or after its cursor, oldest first, and a second revocation of a
// jti keeps the first stamp (so a poll does not see it again as new).
func testRevokedAccessTokensSince(t *testing.T, s store.Store) {
	all, err := s.RevokedAccessTokensSince(ctx, time.Time{})
	must(t, err)
	if len(all) != 0 {
		t.Fatalf("empty store lists %v", all)
	}
	exp := time.Now().Add(time.Hour).Truncate(time.Millisecond)
	before := time.Now()
	must(t, s.RevokeAccessToken(ctx, "a", exp))
	time.Sleep(2 * time.Millisecond)
	mid := time.Now()
	time.Sleep(2 * time.Millisecond)
	must(t, s.RevokeAccessToken(ctx, "b", exp))
	must(t, s.RevokeAccessToken(ctx, "a", exp)) // again: keeps its first stamp
	after := time.Now()

	all, err = s.RevokedAccessTokensSince(ctx, time.Time{})
	must(t, err)
	if got := jtis(t, all); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("since zero: %v, want [a b] oldest first", got)
	}
	for _, r := range all {
		if !r.ExpiresAt.Equal(exp) {
			t.Fatalf("%s expires %v, want %v", r.JTI, r.ExpiresAt, exp)
		}
		if r.RevokedAt.Before(before) || r.RevokedAt.After(after) {
			t.Fatalf("%s revoked at %v, not between %v and %v", r.JTI, r.RevokedAt, before, after)
		}
	}
	since, err := s.RevokedAccessTokensSince(ctx, mid)
	must(t, err)
	if got := jtis(t, since); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("since the middle: %v, want [b]", got)
	}
	// The cursor is inclusive: a poll from the newest stamp sees that entry again.
	since, err = s.RevokedAccessTokensSince(ctx, all[1].RevokedAt)
	must(t, err)
	if got := jtis(t, since); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("since b's stamp: %v, want [b]", got)
	}
	since, err = s.RevokedAccessTokensSince(ctx, after.Add(time.Second))
	must(t, err)
	if len(since) != 0 {
		t.Fatalf("since the future: %v", since)
	}
}

// testIssuedAccessTokens: access tokens recorded for a sign-in are revoked with it (by
// family, or by user and client), only the unexpired ones, and the revocations are listed.
func testIssuedAccessTokens(t *testing.T, s store.Store) {
	now := time.Now()
	exp := now.Add(time.Hour).Truncate(time.Millisecond)
	for _, at := range []store.IssuedAccessToken{
		{JTI: "f1-a", FamilyID: "f1", UserID: "u", ClientID: "c", ExpiresAt: exp},
		{JTI: "f1-b", FamilyID: "f1", UserID: "u", ClientID: "c", ExpiresAt: exp},
		{JTI: "f1-old", FamilyID: "f1", UserID: "u", ClientID: "c", ExpiresAt: now.Add(-time.Minute)},
		{JTI: "f2-a", FamilyID: "f2", UserID: "u", ClientID: "c", ExpiresAt: exp},
		{JTI: "f3-a", FamilyID: "f3", UserID: "u", ClientID: "other", ExpiresAt: exp},
		{JTI: "f4-a", FamilyID: "f4", UserID: "v", ClientID: "c", ExpiresAt: exp},
	} {
		must(t, s.RecordAccessToken(ctx, at))
	}
	if err := s.RecordAccessToken(ctx, store.IssuedAccessToken{JTI: "f1-a", FamilyID: "x", ExpiresAt: exp}); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("recording a jti twice: %v, want ErrAlreadyExists", err)
	}
	got, err := s.GetIssuedAccessToken(ctx, "f3-a")
	must(t, err)
	if want := (store.IssuedAccessToken{JTI: "f3-a", FamilyID: "f3", UserID: "u", ClientID: "other", ExpiresAt: exp}); got.JTI != want.JTI ||
		got.FamilyID != want.FamilyID || got.UserID != want.UserID || got.ClientID != want.ClientID || !got.ExpiresAt.Equal(want.ExpiresAt) {
		t.Fatalf("GetIssuedAccessToken = %+v, want %+v", got, want)
	}
	for _, jti := range []string{"f1-old", "none"} {
		if _, err := s.GetIssuedAccessToken(ctx, jti); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("GetIssuedAccessToken(%s): %v, want ErrNotFound (expired or unknown)", jti, err)
		}
	}
	revoked := func(jti string) bool {
		t.Helper()
		ok, err := s.AccessTokenRevoked(ctx, jti)
		must(t, err)
		return ok
	}

	rs, err := s.RevokeFamilyAccessTokens(ctx, "f1")
	must(t, err)
	if got := jtis(t, rs); !slices.Equal(got, []string{"f1-a", "f1-b"}) {
		t.Fatalf("family f1 revoked %v, want [f1-a f1-b] (not the expired one)", got)
	}
	for _, r := range rs {
		if !r.ExpiresAt.Equal(exp) || r.RevokedAt.IsZero() {
			t.Fatalf("revocation %+v: want the token's expiry and a stamp", r)
		}
	}
	for jti, want := range map[string]bool{"f1-a": true, "f1-b": true, "f1-old": false, "f2-a": false, "f3-a": false, "f4-a": false} {
		if revoked(jti) != want {
			t.Fatalf("after revoking family f1: %s revoked = %v, want %v", jti, !want, want)
		}
	}
	listed, err := s.RevokedAccessTokensSince(ctx, time.Time{})
	must(t, err)
	if got := jtis(t, listed); !slices.Equal(got, []string{"f1-a", "f1-b"}) {
		t.Fatalf("listed %v after revoking family f1", got)
	}
	// Again: the same tokens, still revoked (idempotent).
	rs, err = s.RevokeFamilyAccessTokens(ctx, "f1")
	must(t, err)
	if len(rs) != 2 {
		t.Fatalf("revoking family f1 again returned %v", rs)
	}
	rs, err = s.RevokeFamilyAccessTokens(ctx, "none")
	must(t, err)
	if len(rs) != 0 {
		t.Fatalf("unknown family revoked %v", rs)
	}

	rs, err = s.RevokeUserClientAccessTokens(ctx, "u", "c")
	must(t, err)
	if got := jtis(t, rs); !slices.Equal(got, []string{"f1-a", "f1-b", "f2-a"}) {
		t.Fatalf("user u, client c revoked %v, want [f1-a f1-b f2-a]", got)
	}
	for jti, want := range map[string]bool{"f2-a": true, "f3-a": false, "f4-a": false} {
		if revoked(jti) != want {
			t.Fatalf("after revoking user u for client c: %s revoked = %v, want %v", jti, !want, want)
		}
	}

	// Expired records go with DeleteExpired.
	n, err := s.DeleteExpired(ctx, now)
	must(t, err)
	if n != 1 {
		t.Fatalf("DeleteExpired removed %d rows, want 1 (the expired issued token)", n)
	}
}

// jtis fails unless rs is oldest first and returns its jtis, sorted.
func jtis(t *testing.T, rs []store.Revocation) []string {
	t.Helper()
	if !slices.IsSortedFunc(rs, func(a, b store.Revocation) int { return a.RevokedAt.Compare(b.RevokedAt) }) {
		t.Fatalf("revocations are not oldest first: %v", rs)
	}
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.JTI
	}
	slices.Sort(out)
	return out
}

func testDeviceAuth(t *testing.T, s store.Store) {
	now := time.Now()
	d := store.DeviceAuth{DeviceCodeHash: "dh", UserCode: "ABCD-EFGH", ClientID: "c", Scopes: []string{"openid"}, State: store.DevicePending, CreatedAt: now, ExpiresAt: now.Add(time.Minute)}
	must(t, s.CreateDeviceAuth(ctx, d))
	wantErr(t, s.CreateDeviceAuth(ctx, store.DeviceAuth{DeviceCodeHash: "dh2", UserCode: "ABCD-EFGH", ExpiresAt: now.Add(time.Minute)}), store.ErrAlreadyExists)
	got, err := s.GetDeviceAuthByUserCode(ctx, "ABCD-EFGH")
	must(t, err)
	if got.DeviceCodeHash != "dh" || got.State != store.DevicePending {
		t.Fatalf("got %+v", got)
	}
	_, err = s.UpdateDeviceAuth(ctx, "dh", func(d *store.DeviceAuth) error { d.State, d.UserID = store.DeviceApproved, "u1"; return nil })
	must(t, err)
	got, err = s.GetDeviceAuth(ctx, "dh")
	must(t, err)
	if got.State != store.DeviceApproved || got.UserID != "u1" {
		t.Fatalf("got %+v", got)
	}
	_, err = s.GetDeviceAuth(ctx, "nope")
	wantErr(t, err, store.ErrNotFound)
	// Expired device authorizations stay readable (so the token endpoint can say expired_token).
	must(t, s.CreateDeviceAuth(ctx, store.DeviceAuth{DeviceCodeHash: "old", UserCode: "OLD", State: store.DevicePending, CreatedAt: now, ExpiresAt: now.Add(-time.Second)}))
	got, err = s.GetDeviceAuth(ctx, "old")
	must(t, err)
	if got.ExpiresAt.After(now) {
		t.Fatal("expiry not kept")
	}
}

func testConsents(t *testing.T, s store.Store) {
	_, err := s.GetConsent(ctx, "u", "c")
	wantErr(t, err, store.ErrNotFound)
	must(t, s.PutConsent(ctx, store.Consent{UserID: "u", ClientID: "c", Scopes: []string{"openid"}, GrantedAt: time.Now()}))
	must(t, s.PutConsent(ctx, store.Consent{UserID: "u", ClientID: "c", Scopes: []string{"openid", "mcp"}, GrantedAt: time.Now()}))
	got, err := s.GetConsent(ctx, "u", "c")
	must(t, err)
	if !got.Covers([]string{"mcp", "openid"}) || got.Covers([]string{"admin"}) {
		t.Fatalf("consent = %+v", got)
	}
	_, err = s.GetConsent(ctx, "u", "other")
	wantErr(t, err, store.ErrNotFound)
	must(t, s.DeleteConsent(ctx, "u", "c"))
	wantErr(t, s.DeleteConsent(ctx, "u", "c"), store.ErrNotFound)
}

func testSigningKeys(t *testing.T, s store.Store) {
	now := time.Now()
	k := store.SigningKey{ID: "k1", Algorithm: "ES256", PKCS8: []byte{1, 2, 3}, CreatedAt: now, RetireAt: now.Add(time.Hour), ExpiresAt: now.Add(2 * time.Hour)}
	must(t, s.CreateSigningKey(ctx, k))
	wantErr(t, s.CreateSigningKey(ctx, k), store.ErrAlreadyExists)
	must(t, s.CreateSigningKey(ctx, store.SigningKey{ID: "k0", Algorithm: "RS256", CreatedAt: now, ExpiresAt: now.Add(-time.Second)}))
	keys, err := s.ListSigningKeys(ctx)
	must(t, err)
	if len(keys) != 1 || keys[0].ID != "k1" || string(keys[0].PKCS8) != string(k.PKCS8) || !keys[0].RetireAt.Equal(k.RetireAt) {
		t.Fatalf("keys = %+v", keys)
	}
	must(t, s.DeleteSigningKey(ctx, "k1"))
	wantErr(t, s.DeleteSigningKey(ctx, "k1"), store.ErrNotFound)
}

// randomSecret returns a generator of a fresh 32-byte random value and counts its calls.
func randomSecret(calls *atomic.Int32) func() ([]byte, error) {
	return func() ([]byte, error) {
		calls.Add(1)
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	}
}

func testServerSecrets(t *testing.T, s store.Store) {
	var calls atomic.Int32
	first, err := s.GetOrCreateSecret(ctx, "cookie", randomSecret(&calls))
	must(t, err)
	if len(first) != 32 || calls.Load() != 1 {
		t.Fatalf("first call: %d bytes, generator ran %d times; want 32 bytes and 1 run", len(first), calls.Load())
	}
	// Once stored, the secret is returned as is and the generator does not run.
	again, err := s.GetOrCreateSecret(ctx, "cookie", func() ([]byte, error) {
		t.Error("generator ran although the secret exists")
		return []byte("other"), nil
	})
	must(t, err)
	if !bytes.Equal(again, first) {
		t.Fatal("second call returned a different secret")
	}
	// The returned slice is a copy: changing it does not change the stored secret.
	again[0] ^= 0xff
	third, err := s.GetOrCreateSecret(ctx, "cookie", randomSecret(&calls))
	must(t, err)
	if !bytes.Equal(third, first) {
		t.Fatal("changing a returned secret changed the stored one")
	}
	// Names are independent.
	other, err := s.GetOrCreateSecret(ctx, "other", randomSecret(&calls))
	must(t, err)
	if bytes.Equal(other, first) {
		t.Fatal("two names share one secret")
	}
	// A failing or empty generator stores nothing; the next call generates.
	boom := errors.New("boom")
	_, err = s.GetOrCreateSecret(ctx, "failing", func() ([]byte, error) { return nil, boom })
	wantErr(t, err, boom)
	if _, err := s.GetOrCreateSecret(ctx, "failing", func() ([]byte, error) { return nil, nil }); err == nil {
		t.Fatal("an empty generated secret was accepted")
	}
	got, err := s.GetOrCreateSecret(ctx, "failing", func() ([]byte, error) { return []byte("fixed-value"), nil })
	must(t, err)
	if string(got) != "fixed-value" {
		t.Fatalf("after failed generations got %q", got)
	}
	if _, err := s.GetOrCreateSecret(ctx, "", randomSecret(&calls)); err == nil {
		t.Fatal("an empty name was accepted")
	}
	// Secrets never expire.
	_, err = s.DeleteExpired(ctx, time.Now().Add(100*365*24*time.Hour))
	must(t, err)
	after, err := s.GetOrCreateSecret(ctx, "cookie", randomSecret(&calls))
	must(t, err)
	if !bytes.Equal(after, first) {
		t.Fatal("DeleteExpired replaced the secret")
	}
}

// Concurrent creators (replicas starting together) all get the same, first-stored value.
func testServerSecretsConcurrentCreate(t *testing.T, s store.Store) {
	const n = 16
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		generated [][]byte
		got       = make([][]byte, n)
	)
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			v, err := s.GetOrCreateSecret(ctx, "race", func() ([]byte, error) {
				b := make([]byte, 32)
				_, err := rand.Read(b)
				mu.Lock()
				generated = append(generated, b)
				mu.Unlock()
				return b, err
			})
			if err != nil {
				t.Errorf("creator %d: %v", i, err)
			}
			got[i] = v
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, v := range got {
		if !bytes.Equal(v, got[0]) {
			t.Fatalf("creator %d got a different secret than creator 0", i)
		}
	}
	if !slices.ContainsFunc(generated, func(b []byte) bool { return bytes.Equal(b, got[0]) }) {
		t.Fatal("the shared secret is none of the generated values")
	}
	stored, err := s.GetOrCreateSecret(ctx, "race", func() ([]byte, error) { return nil, errors.New("must not generate") })
	must(t, err)
	if !bytes.Equal(stored, got[0]) {
		t.Fatal("the stored secret differs from what the creators got")
	}
}

func testUsers(t *testing.T, s store.Store) {
	u := store.User{ID: "u1", Username: "alice", Email: "alice@example.com", Groups: []string{"eng"}, PasswordHash: "h", CreatedAt: time.Now()}
	must(t, s.CreateUser(ctx, u))
	wantErr(t, s.CreateUser(ctx, store.User{ID: "u2", Username: "alice"}), store.ErrAlreadyExists)
	must(t, s.CreateUser(ctx, store.User{ID: "u2", Username: "bob"}))
	got, err := s.GetUserByUsername(ctx, "alice")
	must(t, err)
	if got.ID != "u1" || got.Email != u.Email || !slices.Equal(got.Groups, u.Groups) {
		t.Fatalf("got %+v", got)
	}
	_, err = s.UpdateUser(ctx, "u1", func(u *store.User) error { u.PasswordHash = "h2"; u.Groups = append(u.Groups, "ops"); return nil })
	must(t, err)
	got, _ = s.GetUser(ctx, "u1")
	if got.PasswordHash != "h2" || len(got.Groups) != 2 {
		t.Fatalf("after update %+v", got)
	}
	_, err = s.UpdateUser(ctx, "u2", func(u *store.User) error { u.Username = "alice"; return nil })
	wantErr(t, err, store.ErrAlreadyExists)
	list, err := s.ListUsers(ctx)
	must(t, err)
	if len(list) != 2 || list[0].Username != "alice" || list[1].Username != "bob" {
		t.Fatalf("list = %+v", list)
	}
	// Concurrent updates are all applied (CAS retries).
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			if _, err := s.UpdateUser(ctx, "u2", func(u *store.User) error { u.Groups = append(u.Groups, fmt.Sprint(i)); return nil }); err != nil && !errors.Is(err, store.ErrConflict) {
				t.Errorf("update: %v", err)
			}
		})
	}
	wg.Wait()
	must(t, s.DeleteUser(ctx, "u1"))
	_, err = s.GetUserByUsername(ctx, "alice")
	wantErr(t, err, store.ErrNotFound)
	wantErr(t, s.DeleteUser(ctx, "u1"), store.ErrNotFound)
}

func testLoginFailures(t *testing.T, s store.Store) {
	now := time.Now()
	w := time.Minute
	for i := 1; i <= 3; i++ {
		n, start, err := s.RecordLoginFailure(ctx, "user:alice", now.Add(time.Duration(i)*time.Second), w)
		must(t, err)
		if n != i {
			t.Fatalf("count = %d, want %d", n, i)
		}
		if !start.Equal(now.Add(time.Second)) {
			t.Fatalf("window start = %v", start)
		}
	}
	n, _, err := s.LoginFailures(ctx, "user:alice", now.Add(10*time.Second), w)
	must(t, err)
	if n != 3 {
		t.Fatalf("LoginFailures = %d", n)
	}
	// After the window the count starts again.
	n, _, err = s.LoginFailures(ctx, "user:alice", now.Add(2*w), w)
	must(t, err)
	if n != 0 {
		t.Fatalf("after window = %d", n)
	}
	n, _, err = s.RecordLoginFailure(ctx, "user:alice", now.Add(2*w), w)
	must(t, err)
	if n != 1 {
		t.Fatalf("new window count = %d", n)
	}
	must(t, s.ClearLoginFailures(ctx, "user:alice"))
	n, _, _ = s.LoginFailures(ctx, "user:alice", now.Add(2*w), w)
	if n != 0 {
		t.Fatalf("after clear = %d", n)
	}
}

func testDeleteExpired(t *testing.T, s store.Store) {
	now := time.Now()
	past, future := now.Add(-time.Minute), now.Add(time.Hour)
	must(t, s.CreateAuthRequest(ctx, store.AuthRequest{ID: "old", CreatedAt: past, ExpiresAt: past}))
	must(t, s.CreateAuthRequest(ctx, store.AuthRequest{ID: "new", CreatedAt: now, ExpiresAt: future}))
	must(t, s.CreateRefreshToken(ctx, rt("old", "f", past)))
	must(t, s.CreateRefreshToken(ctx, rt("new", "f", future)))
	must(t, s.CreateDeviceAuth(ctx, store.DeviceAuth{DeviceCodeHash: "old", UserCode: "O", CreatedAt: past, ExpiresAt: past}))
	must(t, s.CreateClient(ctx, store.Client{ID: "old", CreatedAt: past, ExpiresAt: past}))
	must(t, s.CreateClient(ctx, store.Client{ID: "forever", CreatedAt: past}))
	must(t, s.RevokeAccessToken(ctx, "old", past))
	n, err := s.DeleteExpired(ctx, now)
	must(t, err)
	if n != 5 {
		t.Fatalf("DeleteExpired removed %d rows, want 5", n)
	}
	if _, err := s.GetDeviceAuth(ctx, "old"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("expired device auth still there: %v", err)
	}
	if revoked, _ := s.AccessTokenRevoked(ctx, "old"); revoked {
		t.Fatal("expired revocation entry still there")
	}
	for _, get := range []func() error{
		func() error { _, err := s.GetAuthRequest(ctx, "new"); return err },
		func() error { _, err := s.GetRefreshToken(ctx, "new"); return err },
		func() error { _, err := s.GetClient(ctx, "forever"); return err },
	} {
		must(t, get())
	}
}
