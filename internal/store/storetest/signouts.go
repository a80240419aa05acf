package storetest

import (
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/store"
)

// testBrowserSignOuts: the latest sign-out time per user is kept until it expires, and
// removed by DeleteExpired.
func testBrowserSignOuts(t *testing.T, s store.Store) {
	bs, ok := s.(store.BrowserSignOuts)
	if !ok {
		t.Fatalf("%T does not remember browser sign-outs (store.BrowserSignOuts)", s)
	}
	now := time.Now().Truncate(time.Microsecond)
	if at, err := bs.BrowsersSignedOutAt(ctx, "alice", now); err != nil || !at.IsZero() {
		t.Fatalf("before any sign-out: %v, %v", at, err)
	}
	must(t, bs.SignOutBrowsers(ctx, "alice", now, now.Add(time.Hour)))
	if at, err := bs.BrowsersSignedOutAt(ctx, "alice", now); err != nil || !at.Equal(now) {
		t.Fatalf("after signing out: %v, %v; want %v", at, err, now)
	}
	if at, err := bs.BrowsersSignedOutAt(ctx, "bob", now); err != nil || !at.IsZero() {
		t.Fatalf("another user: %v, %v", at, err)
	}
	// An earlier time (a replica with a slow clock, a late write) does not move it back.
	must(t, bs.SignOutBrowsers(ctx, "alice", now.Add(-time.Minute), now.Add(30*time.Minute)))
	if at, _ := bs.BrowsersSignedOutAt(ctx, "alice", now); !at.Equal(now) {
		t.Fatalf("an earlier sign-out replaced a later one: %v", at)
	}
	later := now.Add(time.Minute)
	must(t, bs.SignOutBrowsers(ctx, "alice", later, later.Add(time.Hour)))
	if at, _ := bs.BrowsersSignedOutAt(ctx, "alice", now); !at.Equal(later) {
		t.Fatalf("a later sign-out: %v, want %v", at, later)
	}
	// Expired: not reported, and removed.
	gone := later.Add(2 * time.Hour)
	if at, err := bs.BrowsersSignedOutAt(ctx, "alice", gone); err != nil || !at.IsZero() {
		t.Fatalf("after the record expired: %v, %v", at, err)
	}
	if _, err := s.DeleteExpired(ctx, gone); err != nil {
		t.Fatal(err)
	}
	if at, _ := bs.BrowsersSignedOutAt(ctx, "alice", later); !at.IsZero() {
		t.Fatalf("DeleteExpired kept the record: %v", at)
	}
}
