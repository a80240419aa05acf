package federation

import (
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	b := newBucket(2, 10*time.Second)
	now := time.Unix(1000, 0)
	first, second, third := b.take(now), b.take(now), b.take(now)
	if !first || !second || third {
		t.Fatal("want a burst of 2, then refused")
	}
	if b.take(now.Add(5 * time.Second)) {
		t.Fatal("half a period gives no token")
	}
	if !b.take(now.Add(11*time.Second)) || b.take(now.Add(11*time.Second)) {
		t.Fatal("one period gives one token")
	}
}
