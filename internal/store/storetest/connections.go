package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/store"
)

// The connection tests (moved from internal/upstream/connstoretest with the connection
// storage). Status values are internal/upstream's ("active", "broken"): the store keeps
// them as given.

func connection(now time.Time) func(sub, prov string, v int64) store.Connection {
	return func(sub, prov string, v int64) store.Connection {
		return store.Connection{Subject: sub, Provider: prov, Version: v, Status: "active", Sealed: "v1.k.abc",
			Scope: "repo read", ExpiresAt: now.Add(time.Hour), CreatedAt: now, UpdatedAt: now}
	}
}

// testConnections: create, get and update: a create is refused when the row exists, an update when the version is not the stored one.
func testConnections(t *testing.T, s store.Store) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	conn := connection(now)
	if _, err := s.GetConnection(ctx, "alice", "gh"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	c := conn("alice", "gh", 1)
	if err := s.CompareAndSwapConnection(ctx, 0, c); err != nil {
		t.Fatal(err)
	}
	if err := s.CompareAndSwapConnection(ctx, 0, c); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create: %v, want ErrConflict", err)
	}
	got, err := s.GetConnection(ctx, "alice", "gh")
	if err != nil || got.Version != 1 || got.Sealed != c.Sealed || got.Scope != c.Scope || !got.ExpiresAt.Equal(c.ExpiresAt) || !got.CreatedAt.Equal(now) || !got.LeaseUntil.IsZero() {
		t.Fatalf("get = %+v, %v", got, err)
	}
	next := got
	next.Version = 2
	next.Status, next.Reason = "broken", "invalid_grant"
	next.LeaseUntil = now.Add(time.Minute)
	stale := next
	stale.Version = 6
	if err := s.CompareAndSwapConnection(ctx, 5, stale); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("wrong version: %v", err)
	}
	if err := s.CompareAndSwapConnection(ctx, 1, next); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetConnection(ctx, "alice", "gh")
	if got.Version != 2 || got.Status != "broken" || got.Reason != "invalid_grant" || !got.LeaseUntil.Equal(now.Add(time.Minute)) {
		t.Fatalf("after update = %+v", got)
	}
	missing := conn("alice", "nope", 3)
	if err := s.CompareAndSwapConnection(ctx, 2, missing); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("update of a missing row: %v", err)
	}

}

// testConnectionsConcurrentSwap: of sixteen concurrent swaps from one version, exactly one wins.
func testConnectionsConcurrentSwap(t *testing.T, s store.Store) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	conn := connection(now)
	if err := s.CompareAndSwapConnection(ctx, 0, conn("alice", "gh", 1)); err != nil {
		t.Fatal(err)
	}
	var wins, conflicts atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.CompareAndSwapConnection(ctx, 1, conn("alice", "gh", 2))
			switch {
			case err == nil:
				wins.Add(1)
			case errors.Is(err, store.ErrConflict):
				conflicts.Add(1)
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 || conflicts.Load() != 15 {
		t.Fatalf("wins %d conflicts %d, want 1 and 15", wins.Load(), conflicts.Load())
	}

}

// testConnectionsListDelete: a subject's connections are listed by provider; deleting is idempotent and touches no one else's.
func testConnectionsListDelete(t *testing.T, s store.Store) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	conn := connection(now)
	for _, c := range []store.Connection{conn("alice", "jira", 1), conn("alice", "gh", 1), conn("bob", "gh", 1)} {
		if err := s.CompareAndSwapConnection(ctx, 0, c); err != nil {
			t.Fatal(err)
		}
	}
	l, err := s.ListConnections(ctx, "alice")
	if err != nil || len(l) != 2 || l[0].Provider != "gh" || l[1].Provider != "jira" {
		t.Fatalf("list = %+v, %v", l, err)
	}
	if err := s.DeleteConnection(ctx, "alice", "gh"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteConnection(ctx, "alice", "gh"); err != nil {
		t.Fatalf("deleting twice: %v", err)
	}
	if _, err := s.GetConnection(ctx, "alice", "gh"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("after delete: %v", err)
	}
	if _, err := s.GetConnection(ctx, "bob", "gh"); err != nil {
		t.Fatalf("bob's connection was affected: %v", err)
	}
	if l, _ := s.ListConnections(ctx, "carol"); len(l) != 0 {
		t.Fatalf("carol has %v", l)
	}

}

// testConnectionsZeroTimes: zero times come back as zero times.
func testConnectionsZeroTimes(t *testing.T, s store.Store) {
	now := time.Now().UTC().Truncate(time.Millisecond)
	conn := connection(now)
	c := conn("alice", "gh", 1)
	c.ExpiresAt = time.Time{}
	s.CompareAndSwapConnection(ctx, 0, c)
	got, _ := s.GetConnection(ctx, "alice", "gh")
	if !got.ExpiresAt.IsZero() || !got.LeaseUntil.IsZero() {
		t.Fatalf("zero times came back as %v / %v", got.ExpiresAt, got.LeaseUntil)
	}

}
