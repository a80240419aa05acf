package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The latency comparison: one open-loop load at a fixed rate, switched between the targets
// every slice (tens of milliseconds), so that every target sees the same machine: whatever
// disturbs the machine for longer than a slice (another process, the hypervisor, a burst
// of kernel work) falls on all targets alike instead of on one 10 s round. Each target's
// latencies are pooled over its slices; the difference of the percentiles gets a
// confidence interval from a bootstrap over blocks of about a second (each holding the
// same number of slices of every target).
//
// The order of the slices is balanced: every target follows every other target equally
// often (balancedOrder). It matters. A slice inherits its predecessor's leftovers on the
// shared CPU (requests still queued, a collection under way), and a proxy that follows the
// other proxy has two to three times as many requests over the bare proxy's p99 as one that
// follows the direct target. The earlier rotating order (A B C, B C A, C A B, ...) put
// mcpgate after the bare proxy in two slices of three and the bare proxy after the direct
// target in two of three, which showed up as about +0.5 ms on mcpgate's p99.

// sliceResult is one target's latencies in one slice.
type sliceResult struct {
	lat []time.Duration // from the moment the request was sent to the end of the response
	lag []time.Duration // how late each request was sent after its scheduled time
	at  []time.Duration // when each request was due, from the start of the measurement
	// after[k] is the target whose slice came before the one request k was sent in.
	after []int8
	errs  int
}

// interleavedResult is the whole measurement.
type interleavedResult struct {
	targets []target
	// slices[b][i]: block b, target i.
	slices [][]sliceResult
	// foreign[b]: the share of each CPU (generator's, proxies') that other processes took
	// during block b; a block where they took more than maxForeign is not clean.
	foreign [][2]float64
	rate    float64
	slice   time.Duration
	elapsed time.Duration
	// With freeze: the time the schedule paused for slices' last requests (it shifts the
	// schedule), how many pauses there were, and how many slices did not finish within a
	// second (their process was left running).
	drained  time.Duration
	drains   int
	unfrozen int
}

// interleaved sends rate requests per second for perTarget × len(targets), switching
// the target every slice.
//
// freeze, when not nil, holds a process id per target (0: none): each target's process is
// stopped (SIGSTOP) from the moment its slice is over and its last request has finished
// until its next slice, so that nothing it does outside its slices (a collection, the
// sweeper, the scavenger, timers) takes the shared CPU from another target's requests.
// The schedule pauses while a slice's last requests finish.
func interleaved(ctx context.Context, targets []target, rate float64, perTarget, slice time.Duration, ownTicks func() (gen, proxies int64), freeze []int) interleavedResult {
	n := len(targets)
	// A block is about one second: cyc cycles of the balanced order. Blocks are the unit of
	// the bootstrap and of the interference check (a machine stall, which lasts
	// milliseconds, stays inside one block or two, and falls on every target's slices).
	order := balancedOrder(n)
	per := len(order) / n // slices of each target in one cycle
	cyc := max(1, int(time.Second/(slice*time.Duration(len(order)))))
	blocks := max(1, int(perTarget/(slice*time.Duration(cyc*per))))
	perSlice := int(rate*slice.Seconds()) * cyc * per
	interval := time.Duration(float64(time.Second) / rate)
	res := interleavedResult{targets: targets, rate: rate, slice: slice, slices: make([][]sliceResult, blocks), foreign: make([][2]float64, blocks)}
	for b := range res.slices {
		res.slices[b] = make([]sliceResult, n)
		for i := range n {
			res.slices[b][i].lat = make([]time.Duration, 0, perSlice+8)
			res.slices[b][i].lag = make([]time.Duration, 0, perSlice+8)
			res.slices[b][i].after = make([]int8, 0, perSlice+8)
		}
	}
	// One client (connection pool) per target, warmed up.
	const workers = 128 // in flight at most; at half saturation a few are busy at a time
	clients := make([]*http.Client, n)
	for i, t := range targets {
		clients[i] = newClient(workers)
		for range 64 {
			_ = doOne(clients[i], t)
		}
		defer clients[i].CloseIdleConnections()
	}
	type job struct {
		at          time.Time
		b, i, after int
	}
	jobs := make(chan job, 1<<16)
	var t0 time.Time
	inflight := make([]atomic.Int64, n) // requests sent to each target and not finished
	var mu sync.Mutex                   // guards res.slices appends (one lock per request is cheap at these rates)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				start := time.Now()
				lag := start.Sub(j.at)
				err := doOne(clients[j.i], targets[j.i])
				d := time.Since(start)
				inflight[j.i].Add(-1)
				mu.Lock()
				s := &res.slices[j.b][j.i]
				if err != nil {
					s.errs++
				} else {
					s.lat = append(s.lat, d)
					s.lag = append(s.lag, max(0, lag))
					s.at = append(s.at, j.at.Sub(t0))
					s.after = append(s.after, int8(j.after))
				}
				mu.Unlock()
			}
		}()
	}
	// The generator's GC runs (less often than by default): its pauses fall on every
	// target alike, the slices being short. With the GC off, the heap grew by gigabytes
	// over a run and the whole machine slowed down in its last minute (page faults and
	// memory reclaim): every target's p90 went from 0.5 to 10 ms or more.
	gc := debug.SetGCPercent(400)
	runtime.GC()
	signal := func(t int, sig syscall.Signal) {
		if freeze != nil && freeze[t] != 0 {
			_ = syscall.Kill(freeze[t], sig)
		}
	}
	if freeze != nil {
		for t := range n {
			if t != order[0] {
				signal(t, syscall.SIGSTOP)
			}
		}
		defer func() {
			for t := range n {
				signal(t, syscall.SIGCONT)
			}
		}()
	}
	prev := -1
	t0 = time.Now()
	k := 0
	for b := 0; b < blocks && ctx.Err() == nil; b++ {
		bt0, c0, c1 := time.Now(), cpuTicks(cpuGenerator), cpuTicks(cpuProxy)
		g0, p0 := ownTicks()
		for q := range cyc * len(order) {
			i := order[q%len(order)]
			after := order[(q+len(order)-1)%len(order)]
			if freeze != nil && prev >= 0 && prev != i {
				w0 := time.Now()
				for inflight[prev].Load() > 0 && time.Since(w0) < time.Second {
					time.Sleep(20 * time.Microsecond)
				}
				if inflight[prev].Load() == 0 {
					signal(prev, syscall.SIGSTOP)
				} else {
					res.unfrozen++
				}
				signal(i, syscall.SIGCONT)
				res.drained += time.Since(w0)
				res.drains++
			}
			prev = i
			end := t0.Add(res.drained + time.Duration(b*cyc*len(order)+q+1)*slice)
			for {
				at := t0.Add(res.drained + time.Duration(k)*interval)
				if !at.Before(end) {
					break
				}
				if d := time.Until(at); d > 0 {
					time.Sleep(d)
				}
				inflight[i].Add(1)
				jobs <- job{at: at, b: b, i: i, after: after}
				k++
			}
		}
		g1, p1 := ownTicks()
		secs := time.Since(bt0).Seconds()
		res.foreign[b] = [2]float64{
			max(0, float64((cpuTicks(cpuGenerator)-c0)-(g1-g0))/100/secs),
			max(0, float64((cpuTicks(cpuProxy)-c1)-(p1-p0))/100/secs),
		}
	}
	close(jobs)
	wg.Wait()
	res.elapsed = time.Since(t0)
	if f := os.Getenv("LOADTEST_TRACE"); f != "" { // debugging: every request, as CSV
		res.trace(f)
	}
	debug.SetGCPercent(gc)
	runtime.GC()
	return res
}

// balancedOrder is a cyclic order of n targets in which every target follows every other
// target exactly once: an Eulerian circuit of the complete directed graph on n vertices
// (Hierholzer's algorithm), n(n-1) slices long, each target n-1 times. For three targets:
// 0 2 1 2 0 1 (then 0 again): 0 follows 1 and 2 once each, and so on.
func balancedOrder(n int) []int {
	if n < 2 {
		return make([]int, n) // one target or none: nothing to balance
	}
	out := make([][]int, n) // each vertex's edges not walked yet
	for v := range n {
		for w := range n {
			if w != v {
				out[v] = append(out[v], w)
			}
		}
	}
	stack, circuit := []int{0}, []int(nil)
	for len(stack) > 0 {
		v := stack[len(stack)-1]
		if e := out[v]; len(e) > 0 {
			out[v] = e[:len(e)-1]
			stack = append(stack, e[len(e)-1])
			continue
		}
		circuit = append(circuit, v)
		stack = stack[:len(stack)-1]
	}
	slices.Reverse(circuit)
	return circuit[:len(circuit)-1] // the circuit ends where it started
}

// pooled returns target i's latencies (or lags) over the given blocks, sorted.
func (r interleavedResult) pooled(i int, blocks []int, lags bool) []time.Duration {
	var all []time.Duration
	for _, b := range blocks {
		if lags {
			all = append(all, r.slices[b][i].lag...)
		} else {
			all = append(all, r.slices[b][i].lat...)
		}
	}
	slices.Sort(all)
	return all
}

func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}

// maxForeign: a block is clean when other processes took less than this share of each CPU.
const maxForeign = 0.10

// cleanBlocks are the blocks without interference: other processes took less than
// maxForeign of each CPU, and the machine itself was not slow, as target 0 (direct to
// the upstream, through neither proxy) witnesses: its p99 in the block was at most three
// times its median over all blocks. Neither test looks at the proxies' own latencies.
func (r interleavedResult) cleanBlocks() []int {
	p99s := make([]time.Duration, len(r.slices))
	for b := range r.slices {
		p99s[b] = pct(r.pooled(0, []int{b}, false), .99)
	}
	sorted := slices.Clone(p99s)
	slices.Sort(sorted)
	limit := 3 * sorted[len(sorted)/2]
	var c []int
	for b, f := range r.foreign {
		if f[0] < maxForeign && f[1] < maxForeign && p99s[b] <= limit {
			c = append(c, b)
		}
	}
	return c
}

func (r interleavedResult) allBlocks() []int {
	b := make([]int, len(r.slices))
	for i := range b {
		b[i] = i
	}
	return b
}

// diffCI gives bootstrap 95% intervals of pct(target j, q) − pct(target i, q) for each q,
// resampling blocks (one resample serves every percentile: the pooled sorts dominate).
func (r interleavedResult) diffCI(blocks []int, i, j int, qs []float64, iters int) (lo, hi []time.Duration) {
	rng := rand.New(rand.NewPCG(1, 2)) // fixed seed: the same data gives the same interval
	nb := len(blocks)
	diffs := make([][]time.Duration, len(qs))
	pick := make([]int, nb)
	for range iters {
		for k := range pick {
			pick[k] = blocks[rng.IntN(nb)]
		}
		a, b := r.pooled(i, pick, false), r.pooled(j, pick, false)
		for x, q := range qs {
			diffs[x] = append(diffs[x], pct(b, q)-pct(a, q))
		}
	}
	for _, d := range diffs {
		slices.Sort(d)
		lo = append(lo, d[iters*25/1000])
		hi = append(hi, d[min(iters-1, iters*975/1000)])
	}
	return lo, hi
}

// report prints, for all blocks and for the clean ones, the per-target table and the
// latency target j adds over target i.
func (r interleavedResult) report(i, j int) {
	var foreign0, foreign1 float64 // the blocks last about as long each: their mean
	for _, f := range r.foreign {
		foreign0 += f[0] / float64(len(r.foreign))
		foreign1 += f[1] / float64(len(r.foreign))
	}
	clean := r.cleanBlocks()
	fmt.Printf("Other processes took %.1f%% of CPU %d and %.1f%% of CPU %d during the measurement (%s). A block is clean when they took under %.0f%% of each CPU during it and the direct target's p99 in it was at most 3× its median over all blocks (the machine itself was not slow; the proxies' own latencies are not looked at): %d of %d blocks.\n\n",
		100*foreign0, cpuGenerator, 100*foreign1, cpuProxy, r.elapsed.Round(time.Second), 100*maxForeign, len(clean), len(r.slices))
	if os.Getenv("LOADTEST_BLOCKS") != "" { // debugging: each block's p90/p99 per target
		for b := range r.slices {
			fmt.Fprintf(os.Stderr, "block %3d foreign %.2f/%.2f", b, r.foreign[b][0], r.foreign[b][1])
			for t := range r.targets {
				l := r.pooled(t, []int{b}, false)
				fmt.Fprintf(os.Stderr, " | %s %s", ms(pct(l, .9)), ms(pct(l, .99)))
			}
			fmt.Fprintln(os.Stderr)
		}
	}
	r.table("Clean blocks", clean, i, j)
	if len(clean) < len(r.slices) {
		r.table("All blocks", r.allBlocks(), i, j)
	}
}

func (r interleavedResult) table(title string, blocks []int, i, j int) {
	fmt.Printf("### %s (%d)\n\n", title, len(blocks))
	if len(blocks) < 20 {
		fmt.Printf("Too few blocks for a comparison.\n\n")
		return
	}
	fmt.Printf("| target | requests | errors | p50 | p90 | p99 | p99.9 | max | sent late by, p99 / p99.9 |\n|---|---|---|---|---|---|---|---|---|\n")
	for t := range r.targets {
		l := r.pooled(t, blocks, false)
		lag := r.pooled(t, blocks, true)
		errs := 0
		for _, b := range blocks {
			errs += r.slices[b][t].errs
		}
		mx := time.Duration(0)
		if len(l) > 0 {
			mx = l[len(l)-1]
		}
		fmt.Printf("| %s | %d | %d | %s | %s | %s | %s | %s | %s / %s |\n", r.targets[t].name, len(l), errs,
			ms(pct(l, .50)), ms(pct(l, .90)), ms(pct(l, .99)), ms(pct(l, .999)), ms(mx), ms(pct(lag, .99)), ms(pct(lag, .999)))
	}
	bi, gj := r.pooled(i, blocks, false), r.pooled(j, blocks, false)
	fmt.Printf("\nAdded by %s over %s (95%% bootstrap interval, resampling blocks):\n\n| percentile | added | 95%% interval |\n|---|---|---|\n",
		r.targets[j].name, r.targets[i].name)
	names, qs := []string{"p50", "p90", "p99", "p99.9"}, []float64{.50, .90, .99, .999}
	lo, hi := r.diffCI(blocks, i, j, qs, 200)
	for x, q := range qs {
		mark := ""
		if q == .99 {
			mark = "**"
		}
		fmt.Printf("| %s | %s%s%s | %s to %s |\n", names[x], mark, ms(pct(gj, q)-pct(bi, q)), mark, ms(lo[x]), ms(hi[x]))
	}
	fmt.Println()
	r.predecessors(blocks, pct(bi, .99), r.targets[i].name)
}

// predecessors prints, for each target, the share of its requests slower than thr, split
// by the target whose slice came before: what a slice inherits from its predecessor on
// the shared CPU (see balancedOrder).
func (r interleavedResult) predecessors(blocks []int, thr time.Duration, thrName string) {
	n := len(r.targets)
	fmt.Printf("Requests slower than %s (the p99 of %s), by the target whose slice came before theirs:\n\n| target |", ms(thr), thrName)
	for _, t := range r.targets {
		fmt.Printf(" after %s |", t.name)
	}
	fmt.Printf("\n|---|%s\n", strings.Repeat("---|", n))
	for t := range n {
		slow, all := make([]int, n), make([]int, n)
		for _, b := range blocks {
			s := r.slices[b][t]
			for k, d := range s.lat {
				all[s.after[k]]++
				if d > thr {
					slow[s.after[k]]++
				}
			}
		}
		fmt.Printf("| %s |", r.targets[t].name)
		for a := range n {
			if all[a] == 0 {
				fmt.Printf(" — |")
				continue
			}
			fmt.Printf(" %.2f%% of %d |", 100*float64(slow[a])/float64(all[a]), all[a])
		}
		fmt.Println()
	}
	fmt.Println()
}

// trace writes every request as "block,target,due_us,lag_us,latency_us,after" to file.
func (r interleavedResult) trace(file string) {
	f, err := os.Create(file)
	if err != nil {
		fmt.Fprintln(os.Stderr, "trace:", err)
		return
	}
	w := bufio.NewWriter(f) // millions of lines: written as they are formatted, not held
	for bi, row := range r.slices {
		for ti, s := range row {
			for k := range s.lat {
				fmt.Fprintf(w, "%d,%d,%d,%d,%d,%d\n", bi, ti, s.at[k].Microseconds(), s.lag[k].Microseconds(), s.lat[k].Microseconds(), s.after[k])
			}
		}
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		fmt.Fprintln(os.Stderr, "trace:", err)
	}
}
