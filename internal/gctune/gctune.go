// Package gctune owns the pacing and the memory limit of the Go garbage collector in an
// mcpgate process.
//
// With Go's default pacing (GOGC=100) a collection starts when the heap has grown by as
// much as survived the last one. A gateway keeps little alive between requests (a few MB)
// but allocates about 10 KB per request, so at a few thousand requests per second it
// would collect every 50-100 ms. An operator may set a floor (server option
// runtime.gcMinHeap, off by default) that keeps the heap goal at least at that size: while
// the live heap is small, collections come 10-20 times less often (a 64 MiB floor saved
// a few percent of CPU per request in the load test, with no p99 difference outside the
// noise); once the live heap exceeds half the floor, pacing is GOGC=100's again. The price
// is memory: while traffic lasts the process holds about the floor (ReleaseWhenIdle gives
// it back once traffic stops), which is why it is off by default.
//
// The floor is set after every collection: a finalizer on a sentinel object runs once per
// cycle, reads the live heap (runtime/metrics) and sets GOGC so that the next goal is
// max(floor, 2 × live).
//
// SetMemoryLimit gives the runtime a soft memory limit (GOMEMLIMIT semantics) from the
// container's cgroup limit, so that the collector works harder near the limit instead of
// the kernel killing the process; GOMEMLIMIT, when set, still wins, and still bounds the
// heap whatever the floor. Settle returns start-up garbage to the system once the server
// is built.
package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// DefaultMinHeap is the floor used when the configuration does not set one: none. Go's
// default pacing keeps an idle replica's heap near twice its live heap; a floor is an
// operator's choice of memory for CPU.
const DefaultMinHeap = 0

// MinFloor is the smallest floor that changes anything: below 4 MB the runtime's own
// minimum heap goal applies.
const MinFloor = 4 << 20

var (
	mu       sync.Mutex
	floors   = map[int]int64{} // active Start calls: id -> floor
	nextID   int
	base     int  // GOGC before the first active Start, restored when the last one stops
	haveBase bool // base was read for the Starts active now
	current  int
	armed    bool
	liveHeap = []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
)

// Status says what Start did, for the process log.
type Status struct {
	// Active is true when the floor is in effect.
	Active bool
	// Why explains an inactive floor.
	Why string
}

// Start keeps the heap goal at least minHeap bytes until stop is called. It does nothing
// when minHeap is below MinFloor (0 turns the floor off) or when the GOGC environment
// variable is set: an operator who set GOGC has chosen the pacing. Several Start calls
// may be active (tests run several servers in one process); the largest floor applies.
func Start(minHeap int64) (stop func(), st Status) {
	if minHeap < MinFloor {
		return func() {}, Status{Why: "runtime.gcMinHeap is 0 (off): the collector's default pacing applies"}
	}
	if v, ok := os.LookupEnv("GOGC"); ok {
		return func() {}, Status{Why: "GOGC=" + v + " is set in the environment: it decides the pacing"}
	}
	mu.Lock()
	defer mu.Unlock()
	id := nextID
	nextID++
	floors[id] = minHeap
	if !haveBase {
		base = debug.SetGCPercent(100)
		debug.SetGCPercent(base)
		current, haveBase = base, true
	}
	adjustLocked()
	if !armed {
		armed = true
		arm()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			mu.Lock()
			defer mu.Unlock()
			delete(floors, id)
			adjustLocked()
			if len(floors) == 0 {
				haveBase = false // the next Start reads GOGC afresh
			}
		})
	}, Status{Active: true}
}

// Settle collects the garbage of start-up (configuration parsing, policy compilation, key
// loading) and returns the freed pages to the system, so that a server that has just
// started holds what it keeps rather than what it once allocated. It costs one collection,
// a few milliseconds; call it once, after the server is built and before it serves.
func Settle() { debug.FreeOSMemory() }

// sentinel is allocated for its finalizer alone. It is larger than 16 bytes so that it
// gets an object of its own (tiny objects share a block, and a finalizer on one would
// wait for its neighbours).
type sentinel struct{ _ [32]byte }

// arm sets up the finalizer for the next collection.
func arm() {
	s := new(sentinel)
	runtime.SetFinalizer(s, func(*sentinel) { afterGC() })
}

// afterGC runs on the finalizer goroutine once per collection.
func afterGC() {
	mu.Lock()
	defer mu.Unlock()
	adjustLocked()
	if len(floors) == 0 {
		armed = false // the last Start was stopped: let the chain end
		return
	}
	arm()
}

// adjustLocked sets GOGC for the largest active floor and the live heap now.
func adjustLocked() {
	if !haveBase {
		return // no Start active: the pacing is someone else's
	}
	want := base
	if floor := maxFloor(); floor > 0 {
		want = Percent(floor, liveBytes(), base)
	}
	if want != current {
		debug.SetGCPercent(want)
		current = want
	}
}

func maxFloor() int64 {
	var m int64
	for _, f := range floors {
		m = max(m, f)
	}
	return m
}

func liveBytes() uint64 {
	metrics.Read(liveHeap)
	if liveHeap[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return liveHeap[0].Value.Uint64()
}

// Percent is the GOGC that puts the next heap goal at floor for a live heap of live
// bytes: never below base (the pacing without a floor), rounded down to two significant
// digits so that small changes of the live heap do not call into the runtime after every
// cycle. The runtime's minimum heap goal (4 MB) grows with GOGC too, so GOGC is at most
// floor / 4 MB × 100: then that minimum is the floor itself, and a small live heap cannot
// push the goal past it.
func Percent(floor int64, live uint64, base int) int {
	if base < 0 { // GOGC=off: nothing to raise
		return base
	}
	limit := int(floor * 100 / MinFloor)
	if live == 0 {
		return max(limit, base)
	}
	p := min(int((uint64(floor)*100)/live)-100, limit)
	if p <= base {
		return base
	}
	q := 1
	for p/q >= 100 {
		q *= 10
	}
	return max(p/q*q, base)
}
