package gctune

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Idle release. Between collections the heap holds garbage, up to as much again as is live
// with Go's default pacing (more under a floor), and the runtime keeps the pages of what a
// collection freed for the next allocations. That is right under load; in a replica that
// has gone quiet (a burst of sign-ins or stream openings, then thousands of idle streams)
// it keeps the burst's garbage resident for as long as it stays quiet, since nothing
// allocates enough to start the next collection. ReleaseWhenIdle watches for that.

// IdleOptions tune ReleaseWhenIdle; zero values are the defaults.
type IdleOptions struct {
	// Interval is how often the allocation rate is looked at (default 5s).
	Interval time.Duration
	// Quiet is the most bytes allocated in one interval by a process that counts as idle
	// (default 1 MiB: a metrics scrape or a janitor run, not traffic).
	Quiet uint64
	// Slack is the least reclaimable heap (garbage and free pages not yet returned) that is
	// worth a collection (default 4 MiB; at least a quarter of the live heap as well).
	Slack uint64
}

// ReleaseWhenIdle runs until ctx ends. After every interval in which the process
// allocated less than Quiet while its heap held more than Slack bytes it could give back,
// it collects and returns the freed pages to the system (debug.FreeOSMemory), once: the
// next release needs the heap to have grown again. A busy process is left alone. release
// is called after each release with the bytes that were reclaimable (nil: none).
func ReleaseWhenIdle(ctx context.Context, o IdleOptions, release func(reclaimable uint64)) {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.Quiet == 0 {
		o.Quiet = 1 << 20
	}
	if o.Slack == 0 {
		o.Slack = 4 << 20
	}
	t := time.NewTicker(o.Interval)
	defer t.Stop()
	s := newHeapSample()
	last := s.read().allocs
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h := s.read()
		allocated := h.allocs - last
		last = h.allocs
		if allocated >= o.Quiet || !h.worthReleasing(o.Slack) {
			continue
		}
		debug.FreeOSMemory()
		last = s.read().allocs // the release's own allocations do not count as traffic
		if release != nil {
			release(h.reclaimable())
		}
	}
}

// heap is one reading of the runtime's heap metrics.
type heap struct {
	allocs  uint64 // bytes allocated since the process started
	live    uint64 // live heap at the end of the last collection
	objects uint64 // bytes in objects, live or garbage not yet swept
	unused  uint64 // bytes reserved for objects but not in one
	free    uint64 // free pages not yet returned to the system
}

// reclaimable is what a collection followed by a release could give back at most.
func (h heap) reclaimable() uint64 {
	held := h.objects + h.unused + h.free
	if held <= h.live {
		return 0
	}
	return held - h.live
}

func (h heap) worthReleasing(slack uint64) bool {
	r := h.reclaimable()
	return r >= slack && r >= h.live/4
}

type heapSample []metrics.Sample

func newHeapSample() heapSample {
	return heapSample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/heap/unused:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
}

func (s heapSample) read() heap {
	metrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return s[i].Value.Uint64()
	}
	return heap{allocs: v(0), live: v(1), objects: v(2), unused: v(3), free: v(4)}
}
