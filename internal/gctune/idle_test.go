package gctune

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestWorthReleasing(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name string
		h    heap
		want bool
	}{
		{"nothing to give back", heap{live: 8 * mib, objects: 8 * mib}, false},
		{"a burst's garbage", heap{live: 8 * mib, objects: 14 * mib, unused: mib}, true},
		{"free pages kept for the next allocations", heap{live: 8 * mib, objects: 8 * mib, free: 6 * mib}, true},
		{"under the slack", heap{live: 2 * mib, objects: 4 * mib}, false},
		{"under a quarter of a large live heap", heap{live: 400 * mib, objects: 450 * mib}, false},
		{"live above what is held (read between a cycle's end and its sweep)", heap{live: 9 * mib, objects: 8 * mib}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.h.worthReleasing(4 * mib); got != tc.want {
				t.Fatalf("worthReleasing(%+v) = %v (reclaimable %d), want %v", tc.h, got, tc.h.reclaimable(), tc.want)
			}
		})
	}
}

var garbage [][]byte

// TestReleaseWhenIdle: garbage left by a burst, then quiet; the watcher collects and returns
// the pages to the system without anyone calling runtime.GC.
func TestReleaseWhenIdle(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1)) // no collection but the watcher's
	debug.FreeOSMemory()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	for range 32 << 10 { // 32 MiB in 1 KiB objects, then dropped
		garbage = append(garbage, make([]byte, 1024))
	}
	garbage = nil

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	released := make(chan uint64, 1)
	go ReleaseWhenIdle(ctx, IdleOptions{Interval: 20 * time.Millisecond}, func(r uint64) {
		select {
		case released <- r:
		default:
		}
	})
	var r uint64
	select {
	case r = <-released:
	case <-time.After(30 * time.Second):
		t.Fatal("no release after 30 s of quiet")
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	t.Logf("reclaimable %d MiB; heap in use %d -> %d MiB, released %d -> %d MiB", r>>20,
		before.HeapInuse>>20, after.HeapInuse>>20, before.HeapReleased>>20, after.HeapReleased>>20)
	if r < 16<<20 {
		t.Fatalf("reclaimable %d bytes at the release, want about 32 MiB", r)
	}
	if after.HeapInuse > before.HeapInuse+8<<20 {
		t.Fatalf("heap in use %d bytes after the release, want about %d as before the burst", after.HeapInuse, before.HeapInuse)
	}
}
