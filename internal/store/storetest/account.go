package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/store"
)

// testListConsents: a user's unexpired consents, by client, and no one else's.
func testListConsents(t *testing.T, s store.Store) {
	now := time.Now()
	must(t, s.PutConsent(ctx, store.Consent{UserID: "u", ClientID: "zed", Scopes: []string{"mcp"}, GrantedAt: now}))
	must(t, s.PutConsent(ctx, store.Consent{UserID: "u", ClientID: "abc", Scopes: []string{"openid"}, GrantedAt: now}))
	must(t, s.PutConsent(ctx, store.Consent{UserID: "u", ClientID: "old", GrantedAt: now, ExpiresAt: now.Add(-time.Second)}))
	must(t, s.PutConsent(ctx, store.Consent{UserID: "other", ClientID: "abc", GrantedAt: now}))
	got, err := s.ListConsents(ctx, "u")
	must(t, err)
	if len(got) != 2 || got[0].ClientID != "abc" || got[1].ClientID != "zed" || got[1].Scopes[0] != "mcp" {
		t.Fatalf("consents = %+v", got)
	}
	if got, err := s.ListConsents(ctx, "nobody"); err != nil || len(got) != 0 {
		t.Fatalf("consents of nobody = %+v, %v", got, err)
	}
}

// testListSignIns: one row per live family (its current token), newest first, filtered
// by user, bounded by limit.
func testListSignIns(t *testing.T, s store.Store) {
	now := time.Now()
	tok := func(id, family, user string, exp time.Time) store.RefreshToken {
		return store.RefreshToken{ID: id, FamilyID: family, ClientID: "c", UserID: user, CreatedAt: now, ExpiresAt: exp, AuthTime: now}
	}
	must(t, s.CreateRefreshToken(ctx, tok("a1", "fa", "alice", now.Add(time.Hour))))
	_, err := s.UseRefreshToken(ctx, "a1", now) // rotated: a2 is the family's current token
	must(t, err)
	must(t, s.CreateRefreshToken(ctx, tok("a2", "fa", "alice", now.Add(time.Hour))))
	must(t, s.CreateRefreshToken(ctx, tok("b1", "fb", "alice", now.Add(2*time.Hour))))
	must(t, s.CreateRefreshToken(ctx, tok("c1", "fc", "alice", now.Add(3*time.Hour))))
	_, err = s.RevokeFamily(ctx, "fc")
	must(t, err)
	must(t, s.CreateRefreshToken(ctx, tok("d1", "fd", "alice", now.Add(-time.Second))))
	must(t, s.CreateRefreshToken(ctx, tok("e1", "fe", "bob", now.Add(90*time.Minute))))
	ids := func(ts []store.RefreshToken) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.ID)
		}
		return out
	}
	tests := []struct {
		name  string
		user  string
		limit int
		want  []string
	}{
		{"one user", "alice", 0, []string{"b1", "a2"}},
		{"every user", "", 0, []string{"b1", "e1", "a2"}},
		{"limit", "", 2, []string{"b1", "e1"}},
		{"unknown user", "carol", 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ListSignIns(ctx, tt.user, tt.limit)
			must(t, err)
			if g := ids(got); len(g) != len(tt.want) || (len(g) > 0 && !slices.Equal(g, tt.want)) {
				t.Fatalf("sign-ins = %v, want %v", g, tt.want)
			}
		})
	}
}

// testRetireSigningKey: rotation moves a key's retirement and expiry, and nothing else.
func testRetireSigningKey(t *testing.T, s store.Store) {
	now := time.Now().Truncate(time.Millisecond)
	k := store.SigningKey{ID: "k1", Algorithm: "ES256", PKCS8: []byte{1, 2, 3}, CreatedAt: now, RetireAt: now.Add(24 * time.Hour), ExpiresAt: now.Add(48 * time.Hour)}
	must(t, s.CreateSigningKey(ctx, k))
	retire, exp := now.Add(time.Hour), now.Add(3*time.Hour)
	must(t, s.RetireSigningKey(ctx, "k1", retire, exp))
	keys, err := s.ListSigningKeys(ctx)
	must(t, err)
	if len(keys) != 1 || !keys[0].RetireAt.Equal(retire) || !keys[0].ExpiresAt.Equal(exp) || string(keys[0].PKCS8) != "\x01\x02\x03" || keys[0].Algorithm != "ES256" {
		t.Fatalf("keys = %+v", keys)
	}
	// Retired into the past: no longer listed (it expired).
	must(t, s.RetireSigningKey(ctx, "k1", now.Add(-2*time.Second), now.Add(-time.Second)))
	if keys, err := s.ListSigningKeys(ctx); err != nil || len(keys) != 0 {
		t.Fatalf("keys after expiry = %+v, %v", keys, err)
	}
	wantErr(t, s.RetireSigningKey(ctx, "missing", retire, exp), store.ErrNotFound)
}

// testClientDisabled: a disabled client is still read and listed, with Disabled set, and
// can be enabled again; the rest of the client is unchanged.
func testClientDisabled(t *testing.T, s store.Store) {
	now := time.Now().Truncate(time.Millisecond)
	c := store.Client{ID: "c1", Name: "One", RedirectURIs: []string{"http://127.0.0.1/cb"}, Source: "dcr", CreatedAt: now}
	must(t, s.CreateClient(ctx, c))
	must(t, s.SetClientDisabled(ctx, "c1", true))
	got, err := s.GetClient(ctx, "c1")
	must(t, err)
	if !got.Disabled || got.Name != "One" || !slices.Equal(got.RedirectURIs, c.RedirectURIs) || !got.CreatedAt.Equal(now) {
		t.Fatalf("disabled client = %+v", got)
	}
	list, err := s.ListClients(ctx)
	must(t, err)
	if len(list) != 1 || !list[0].Disabled {
		t.Fatalf("list = %+v", list)
	}
	must(t, s.SetClientDisabled(ctx, "c1", false))
	if got, _ := s.GetClient(ctx, "c1"); got.Disabled {
		t.Fatal("still disabled after enabling")
	}
	wantErr(t, s.SetClientDisabled(ctx, "nope", true), store.ErrNotFound)
}
