package gctune

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
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

// floor64 is the floor the tests set: 64 MiB, the size the load test measured.
const floor64 = 64 << 20

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

// heapGoal is the runtime's current heap goal.
func heapGoal() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// TestFloorCutsCollections: with the floor the heap goal is the floor (not below, and not
// far above: GOGC also scales the runtime's 4 MB minimum goal, and a GOGC computed from a
// tiny live heap alone would put the goal near a gigabyte), so 512 MiB of short-lived
// garbage takes about 512/64 = 8 collections instead of one every few MB; stopping the
// floor restores the pacing it found. (Under CPU contention the live heap a cycle reports
// includes what was allocated while it marked, so the collections without the floor vary
// a lot; the goal is what the floor controls.)
func TestFloorCutsCollections(t *testing.T) {
	unsetGOGC(t)
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	runtime.GC()
	goalBefore := heapGoal()
	without := churn(512 << 20)

	stop, st := Start(floor64)
	if !st.Active {
		t.Fatalf("floor not active: %s", st.Why)
	}
	runtime.GC() // a cycle for the finalizer to see the live heap
	goal := heapGoal()
	with := churn(512 << 20)
	during := gcPercent()
	stop()
	t.Logf("heap goal %d MiB without the floor, %d MiB with it (GOGC %d); 512 MiB of garbage: %d collections without, %d with",
		goalBefore>>20, goal>>20, during, without, with)
	if goal < floor64*9/10 || goal > floor64*5/4 {
		t.Fatalf("heap goal with a 64 MiB floor = %d MiB, want about 64 MiB", goal>>20)
	}
	if with < 4 || with > 16 {
		t.Fatalf("%d collections for 512 MiB of garbage over a 64 MiB goal, want about 8", with)
	}
	if got := gcPercent(); got != 100 {
		t.Fatalf("after stop GOGC = %d, want 100 restored", got)
	}
	stop() // a second call does nothing
	if got := gcPercent(); got != 100 {
		t.Fatalf("after a second stop GOGC = %d, want 100", got)
	}
}

// TestLargestFloorApplies: two servers in one process each start a floor; the larger one
// applies until it stops, then the other.
func TestLargestFloorApplies(t *testing.T) {
	unsetGOGC(t)
	before := gcPercent()
	runtime.GC()
	stopSmall, _ := Start(256 << 20)
	stopLarge, _ := Start(1 << 30)
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
	stop, st := Start(floor64)
	defer stop()
	if st.Active || st.Why == "" {
		t.Fatalf("with GOGC set, Start = %+v, want inactive with a reason", st)
	}
	if got := gcPercent(); got != before {
		t.Fatalf("GOGC = %d, want %d untouched", got, before)
	}
}

// TestRestoresWhatItFound: each time the floor starts anew it reads GOGC afresh, so a
// change made while no floor was active is what a later stop restores.
func TestRestoresWhatItFound(t *testing.T) {
	unsetGOGC(t)
	orig := gcPercent()
	defer debug.SetGCPercent(orig)
	stop, _ := Start(floor64)
	stop()
	debug.SetGCPercent(300)
	stop, _ = Start(1 << 30)
	if got := gcPercent(); got <= 300 {
		t.Fatalf("GOGC with a 1 GiB floor = %d, want above 300", got)
	}
	stop()
	if got := gcPercent(); got != 300 {
		t.Fatalf("after stop GOGC = %d, want 300 (what it found)", got)
	}
}
