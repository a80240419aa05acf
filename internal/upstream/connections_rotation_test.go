package upstream

import (
	"context"
	"crypto/rand"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/secrets"

	"github.com/mcpgate/mcpgate/internal/store"
)

// TestConnectionKeyRotation: after adding a new primary key, old connections still open,
// refreshed ones are sealed with the new key, and a deployment without the right key
// cannot read them.
func TestConnectionKeyRotation(t *testing.T) {
	ts := newTokenServer(t, func(f url.Values) (int, any) {
		return 200, map[string]any{"access_token": "at-new", "refresh_token": "rt-new", "token_type": "Bearer", "expires_in": 3600}
	})
	mk := func() secrets.Key {
		b := make([]byte, 32)
		rand.Read(b)
		return secrets.Key{ID: "", Material: b}
	}
	k1, k2 := mk(), mk()
	k1.ID, k2.ID = "k1", "k2"
	store := store.NewMemory()
	clk := newClock()
	replica := func(primary string, keys ...secrets.Key) *Connections {
		kr, err := secrets.NewKeyring(primary, keys...)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := NewConnections(ConnectionsConfig{Apps: []OAuthApp{{Name: "svc", AuthorizeURL: "http://127.0.0.1:1/a", TokenURL: ts.URL, ClientID: "c", ClientSecret: "s"}},
			Store: store, Keys: kr, BaseURL: "https://mcp.example.com/connections", Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	ctx := context.Background()
	req := Request{Principal: principal("alice", "t")}
	before := replica("", k1)
	if err := before.Link(ctx, "svc", "alice", "at-old", "rt-old", "", clk.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	rec, _ := store.GetConnection(ctx, "alice", "svc")
	if !strings.HasPrefix(rec.Sealed, "v1.k1.") || strings.Contains(rec.Sealed, "rt-old") {
		t.Fatalf("sealed = %q", rec.Sealed)
	}

	after := replica("k2", k1, k2)
	p, _ := after.Provider("svc")
	if c, err := p.Credential(ctx, req); err != nil || c.Header.Get("Authorization") != "Bearer at-old" {
		t.Fatalf("old connection after rotation: %v", err)
	}
	clk.Advance(2 * time.Hour)
	if c, err := p.Credential(ctx, req); err != nil || c.Header.Get("Authorization") != "Bearer at-new" {
		t.Fatalf("refresh after rotation: %v", err)
	}
	if got := ts.last(t).Get("refresh_token"); got != "rt-old" {
		t.Fatalf("refreshed with %q", got)
	}
	rec, _ = store.GetConnection(ctx, "alice", "svc")
	if !strings.HasPrefix(rec.Sealed, "v1.k2.") {
		t.Fatalf("refreshed connection not sealed with the new primary: %q", rec.Sealed[:8])
	}
	onlyNew, _ := replica("", k2).Provider("svc")
	if _, err := onlyNew.Credential(ctx, req); err != nil {
		t.Fatalf("k2-only replica: %v", err)
	}
	onlyOld, _ := replica("", k1).Provider("svc")
	_, err := onlyOld.Credential(ctx, req)
	wantFailure(ReasonStore, 0, true)(t, err)
	if !strings.Contains(err.Error(), "cannot be decrypted") {
		t.Fatalf("err = %v", err)
	}
}

// TestConnectionRefreshFailures: a transient refresh failure keeps the connection (and
// uses the old token while it is still valid); a connection without a refresh token asks
// the user to reconnect once it expires.
func TestConnectionRefreshFailures(t *testing.T) {
	status := 503
	ts := newTokenServer(t, func(url.Values) (int, any) {
		if status != 200 {
			return status, map[string]any{"error": "temporarily_unavailable"}
		}
		return 200, map[string]any{"access_token": "at-2", "token_type": "Bearer", "expires_in": 3600}
	})
	store := store.NewMemory()
	clk := newClock()
	cs, err := NewConnections(ConnectionsConfig{Apps: []OAuthApp{{Name: "svc", DisplayName: "Svc", AuthorizeURL: "http://127.0.0.1:1/a", TokenURL: ts.URL, ClientID: "c", ClientSecret: "s"}},
		Store: store, Keys: newKeyring(t, "k"), BaseURL: "https://mcp.example.com/connections", Now: clk.Now, RefreshSkew: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := cs.Provider("svc")
	ctx := context.Background()
	req := Request{Principal: principal("alice", "t")}
	cs.Link(ctx, "svc", "alice", "at-1", "rt-1", "", clk.Now().Add(30*time.Second)) // inside the skew

	// IdP down, old token still valid: use it, keep the connection, release the lease.
	c, err := p.Credential(ctx, req)
	if err != nil || c.Header.Get("Authorization") != "Bearer at-1" {
		t.Fatalf("fallback to the still-valid token: %v", err)
	}
	rec, _ := store.GetConnection(ctx, "alice", "svc")
	if rec.Status != StatusActive || !rec.LeaseUntil.IsZero() {
		t.Fatalf("after a transient failure: %+v", rec)
	}
	// IdP down, token expired: a transient failure, not a broken connection.
	clk.Advance(time.Minute)
	_, err = p.Credential(ctx, req)
	wantFailure(ReasonIdPError, 503, false)(t, err)
	if rec, _ := store.GetConnection(ctx, "alice", "svc"); rec.Status != StatusActive {
		t.Fatal("transient failure marked the connection broken")
	}
	// IdP back: the next call refreshes.
	status = 200
	if c, err := p.Credential(ctx, req); err != nil || c.Header.Get("Authorization") != "Bearer at-2" {
		t.Fatalf("after recovery: %v", err)
	}
	// The AS gave no new refresh token: the old one is kept.
	rec, _ = store.GetConnection(ctx, "alice", "svc")
	if toks, _ := cs.open(rec); toks.RefreshToken != "rt-1" {
		t.Fatalf("refresh token lost: %q", toks.RefreshToken)
	}

	// No refresh token at all: usable until expiry, then the user must reconnect.
	cs.Link(ctx, "svc", "bob", "at-b", "", "", clk.Now().Add(30*time.Second))
	bob := Request{Principal: principal("bob", "b")}
	if c, err := p.Credential(ctx, bob); err != nil || c.Header.Get("Authorization") != "Bearer at-b" {
		t.Fatalf("bob before expiry: %v", err)
	}
	clk.Advance(time.Minute)
	_, err = p.Credential(ctx, bob)
	if nua, ok := err.(*NeedsUserAction); !ok || nua.Reason != "connection_expired" || !strings.Contains(nua.Message, "connect it again") {
		t.Fatalf("bob after expiry: %v", err)
	}
}

// TestConnectionStaleLeaseTakenOver: a replica that died while holding the refresh lease
// does not block the connection beyond the lease.
func TestConnectionStaleLeaseTakenOver(t *testing.T) {
	ts := newTokenServer(t, okToken("at-2"))
	store := store.NewMemory()
	clk := newClock()
	cs, _ := NewConnections(ConnectionsConfig{Apps: []OAuthApp{{Name: "svc", AuthorizeURL: "http://127.0.0.1:1/a", TokenURL: ts.URL, ClientID: "c", ClientSecret: "s"}},
		Store: store, Keys: newKeyring(t, "k"), BaseURL: "https://mcp.example.com/connections", Now: clk.Now, LeaseTTL: 30 * time.Second})
	ctx := context.Background()
	cs.Link(ctx, "svc", "alice", "at-1", "rt-1", "", clk.Now().Add(-time.Minute))
	rec, _ := store.GetConnection(ctx, "alice", "svc")
	dead := rec
	dead.Version++
	dead.LeaseUntil = clk.Now().Add(-time.Second) // the holder died; its lease ran out
	if err := store.CompareAndSwapConnection(ctx, rec.Version, dead); err != nil {
		t.Fatal(err)
	}
	p, _ := cs.Provider("svc")
	c, err := p.Credential(ctx, Request{Principal: principal("alice", "t")})
	if err != nil || c.Header.Get("Authorization") != "Bearer at-2" || ts.n.Load() != 1 {
		t.Fatalf("stale lease not taken over: %v (refreshes %d)", err, ts.n.Load())
	}
}
