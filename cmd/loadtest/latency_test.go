package main

import "testing"

// TestBalancedOrder: in the cyclic slice order every target follows every other target
// exactly once and itself never, so no target inherits one neighbour's leftovers more
// often than another's.
func TestBalancedOrder(t *testing.T) {
	for n := 1; n <= 6; n++ {
		order := balancedOrder(n)
		want := n * (n - 1)
		if n == 1 {
			want = 1
		}
		if len(order) != want {
			t.Fatalf("n=%d: %d slices %v, want %d", n, len(order), order, want)
		}
		count := make([]int, n)
		pairs := map[[2]int]int{}
		for k, v := range order {
			count[v]++
			prev := order[(k+len(order)-1)%len(order)]
			if n > 1 && prev == v {
				t.Fatalf("n=%d: %v has %d after itself", n, order, v)
			}
			pairs[[2]int{prev, v}]++
		}
		for v, c := range count {
			if n > 1 && c != n-1 {
				t.Fatalf("n=%d: %v has target %d %d times, want %d", n, order, v, c, n-1)
			}
		}
		if n > 1 && len(pairs) != want {
			t.Fatalf("n=%d: %v has %d distinct ordered pairs, want %d", n, order, len(pairs), want)
		}
		for p, c := range pairs {
			if c != 1 {
				t.Fatalf("n=%d: %v has %d after %d %d times", n, order, p[1], p[0], c)
			}
		}
	}
}
