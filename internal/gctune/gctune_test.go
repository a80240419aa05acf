package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name  string
		floor int64
		live  uint64
		base  int
		want  int
	}{
		{"goal at the floor", 64 * mib, 8 * mib, 100, 700},
		{"rounded to two digits", 64 * mib, 5 * mib, 100, 1100},
		{"small live heap: the minimum goal is the floor", 64 * mib, 2 * mib, 100, 1600},
		{"live heap past half the floor: default pacing", 64 * mib, 40 * mib, 100, 100},
		{"a higher GOGC stays", 64 * mib, 2 * mib, 5000, 5000},
		{"tiny live heap", 64 * mib, 100 << 10, 100, 1600},
		{"no live heap yet", 64 * mib, 0, 100, 1600},
		{"a larger floor (rounded down)", 1 << 30, 1 * mib, 100, 25000},
		{"GOGC=off stays off", 64 * mib, 2 * mib, -1, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percent(tc.floor, tc.live, tc.base); got != tc.want {
				t.Fatalf("Percent(%d, %d, %d) = %d, want %d", tc.floor, tc.live, tc.base, got, tc.want)
			}
		})
	}
}

// unsetGOGC clears GOGC for the test (Start leaves the pacing alone when it is set).
func unsetGOGC(t *testing.T) {
	t.Helper()
	if v, ok := os.LookupEnv("GOGC"); ok {
		os.Unsetenv("GOGC")
		t.Cleanup(func() { os.Setenv("GOGC", v) })
	}
}

var sink []byte

// churn allocates total bytes of short-lived garbage and returns how many collections ran.
func churn(total int) uint32 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	n0 := ms.NumGC
	for i := 0; i < total; i += 4096 {
		sink = make([]byte, 4096)
	}
	runtime.ReadMemStats(&ms)
	return ms.NumGC - n0
}

func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}

// TestFloorCutsCollections allocates the same garbage with and without the floor: with a
// small live heap, the floor must cut the number of collections several times over, and
// stopping it must restore the pacing it found.
func TestFloorCutsCollections(t *testing.T) {
	unsetGOGC(t)
	before := gcPercent()
	runtime.GC()
	without := churn(512 << 20)

	stop, st := Start(DefaultMinHeap)
	if !st.Active {
		t.Fatalf("floor not active: %s", st.Why)
	}
	runtime.GC() // one cycle for the finalizer to see the live heap
	with := churn(512 << 20)
	during := gcPercent()
	stop()
	t.Logf("512 MiB of garbage: %d collections without the floor, %d with it (GOGC %d)", without, with, during)
	if during <= before {
		t.Fatalf("GOGC during the floor = %d, want above %d", during, before)
	}
	if with*4 > without {
		t.Fatalf("the floor cut collections from %d to only %d, want at most a quarter", without, with)
	}
	// The heap goal must be the floor, not far above it: 512 MiB of garbage over a 64 MiB
	// goal is 8 collections. (GOGC also scales the runtime's 4 MB minimum goal; a GOGC
	// computed from a tiny live heap alone would put the goal near a gigabyte.)
	if with < 4 {
		t.Fatalf("only %d collections for 512 MiB of garbage: the heap goal is far above the 64 MiB floor", with)
	}
	if got := gcPercent(); got != before {
		t.Fatalf("after stop GOGC = %d, want %d restored", got, before)
	}
	stop() // a second call does nothing
	if got := gcPercent(); got != before {
		t.Fatalf("after a second stop GOGC = %d, want %d", got, before)
	}
}

// TestLargestFloorApplies: two servers in one process each start a floor; the larger one
// applies until it stops, then the other.
func TestLargestFloorApplies(t *testing.T) {
	unsetGOGC(t)
	before := gcPercent()
	runtime.GC()
	stopSmall, _ := Start(16 << 20)
	stopLarge, _ := Start(256 << 20)
	large := gcPercent()
	stopLarge()
	small := gcPercent()
	stopSmall()
	if !(large > small && small > before) {
		t.Fatalf("GOGC with both floors %d, with the smaller %d, without %d: want decreasing", large, small, before)
	}
	if got := gcPercent(); got != before {
		t.Fatalf("after both stopped GOGC = %d, want %d", got, before)
	}
}

func TestFloorOff(t *testing.T) {
	unsetGOGC(t)
	before := gcPercent()
	if _, st := Start(0); st.Active || st.Why == "" {
		t.Fatalf("Start(0) = %+v, want inactive with a reason", st)
	}
	t.Setenv("GOGC", "200")
	stop, st := Start(DefaultMinHeap)
	defer stop()
	if st.Active || st.Why == "" {
		t.Fatalf("with GOGC set, Start = %+v, want inactive with a reason", st)
	}
	if got := gcPercent(); got != before {
		t.Fatalf("GOGC = %d, want %d untouched", got, before)
	}
}
