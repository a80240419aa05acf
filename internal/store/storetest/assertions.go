package storetest

import (
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/store"
)

// testAssertions: an assertion id is accepted once until it expires, by exactly one of
// several concurrent callers, again after it expired, and DeleteExpired removes it.
func testAssertions(t *testing.T, s store.Store) {
	al, ok := s.(store.AssertionLog)
	if !ok {
		t.Fatalf("%T does not remember used assertions (store.AssertionLog)", s)
	}
	now := time.Now().Truncate(time.Millisecond)
	exp := now.Add(5 * time.Minute)
	must(t, al.UseAssertion(ctx, "a", exp, now))
	if err := al.UseAssertion(ctx, "a", exp, now.Add(time.Minute)); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("second use before expiry: %v, want ErrAlreadyExists", err)
	}
	must(t, al.UseAssertion(ctx, "b", exp, now)) // ids are independent
	// After expiry the id may be used again (the assertion itself is refused by its exp).
	must(t, al.UseAssertion(ctx, "a", exp.Add(5*time.Minute), exp.Add(time.Second)))
	if err := al.UseAssertion(ctx, "a", exp, exp.Add(2*time.Second)); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("use after the renewed record: %v, want ErrAlreadyExists", err)
	}

	// Concurrent first uses: exactly one wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := al.UseAssertion(ctx, "race", exp, now)
			switch {
			case err == nil:
				wins.Add(1)
			case !errors.Is(err, store.ErrAlreadyExists):
				t.Errorf("concurrent use: %v", err)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d concurrent uses succeeded, want 1", wins.Load())
	}

	// DeleteExpired removes expired records (and counts them).
	must(t, al.UseAssertion(ctx, "short", now.Add(time.Second), now))
	n, err := s.DeleteExpired(ctx, now.Add(2*time.Second))
	must(t, err)
	if n < 1 {
		t.Fatalf("DeleteExpired removed %d rows, want the expired assertion", n)
	}
	must(t, al.UseAssertion(ctx, "short", now.Add(time.Minute), now)) // gone: usable again
	if err := al.UseAssertion(ctx, "b", exp, now); !errors.Is(err, store.ErrAlreadyExists) {
		t.Fatalf("unexpired assertion after DeleteExpired: %v, want ErrAlreadyExists", err)
	}
}
