package main

import (
	"bufio"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/mcpgate/mcpgate/internal/gctune"
)

// CPU layout of the isolated mode on a 2-core machine: the load generator (this process,
// GOMAXPROCS=1) has CPU 0 to itself, so that it sends on time; the proxy under test and
// the upstream run in child processes (GOMAXPROCS=1) on CPU 1 (-upstream-child=false puts
// the upstream inside the generator instead). Measured alternatives, on an idle machine:
// with the upstream as a process next to the generator, the two took turns on CPU 0 and
// the generator sent 1% of its requests about 4 ms late; with the upstream as goroutines
// inside the generator, the one P fell behind by 17 ms at p99 at 6,000 req/s.
const (
	cpuGenerator = 0
	cpuProxy     = 1
)

// pinAll pins every thread of this process to cpu (sched_setaffinity applies per thread;
// threads created later inherit the mask of the thread that creates them).
func pinAll(cpu int) error {
	var set unix.CPUSet
	set.Set(cpu)
	return setAffinity(&set)
}

func setAffinity(set *unix.CPUSet) error {
	return eachThread(os.Getpid(), func(tid int) error {
		if err := unix.SchedSetaffinity(tid, set); err != nil {
			return fmt.Errorf("sched_setaffinity(%d): %w", tid, err)
		}
		return nil
	})
}

// eachThread calls f with the id of every thread of process pid.
func eachThread(pid int, f func(tid int) error) error {
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return err
	}
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			if err := f(tid); err != nil {
				return err
			}
		}
	}
	return nil
}

// child is a proxy or upstream running in its own process (serveChild).
type child struct {
	role   string
	addr   string
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
}

// gcStats are a child's runtime counters (the "stats" command of serveChild).
type gcStats struct{ cycles, allocBytes uint64 }

// stats asks the child for its GC cycles and bytes allocated so far.
func (c *child) stats() (gcStats, error) {
	if _, err := io.WriteString(c.stdin, "stats\n"); err != nil {
		return gcStats{}, err
	}
	line, err := c.stdout.ReadString('\n')
	if err != nil {
		return gcStats{}, err
	}
	var s gcStats
	if _, err := fmt.Sscanf(line, "STATS %d %d", &s.cycles, &s.allocBytes); err != nil {
		return gcStats{}, fmt.Errorf("%s child: bad stats line %q", c.role, line)
	}
	return s, nil
}

// startChild runs this binary with -role, pinned to cpu with GOMAXPROCS=1.
func startChild(ctx context.Context, role, upstream, keyFile string, cpu int) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, append(childArgs(role, upstream, keyFile), "-cpu", strconv.Itoa(cpu))...)
	procs := "1"
	if v := os.Getenv("LOADTEST_CHILD_GOMAXPROCS"); v != "" { // experiments: more Ps on the one CPU
		procs = v
	}
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+procs)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		stdin.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s child did not start: %q %v", role, line, err)
	}
	return &child{role: role, addr: strings.TrimSpace(strings.TrimPrefix(line, "ADDR ")), cmd: cmd, stdin: stdin, stdout: out}, nil
}

// stop closes the child's stdin (it exits, writing its CPU profile if asked) and waits.
func (c *child) stop() {
	c.stdin.Close()
	_ = c.cmd.Wait()
}

// isolated measures throughput and latency with each proxy and the upstream in child
// processes pinned to their own CPU (see cpuProxy), the generator in this process.
func isolated(ctx context.Context, key *rsa.PrivateKey, tok string, dur, latDur time.Duration, lo latencyOpts, upstreamChild bool) error {
	if runtime.NumCPU() < 2 {
		return fmt.Errorf("the isolated layout needs 2 CPUs, have %d (use -inprocess)", runtime.NumCPU())
	}
	var orig unix.CPUSet
	if err := unix.SchedGetaffinity(0, &orig); err != nil {
		return err
	}
	if err := pinAll(cpuGenerator); err != nil {
		return err
	}
	if lo.rt != "off" {
		// Real-time priority needs CAP_SYS_NICE (or an RLIMIT_RTPRIO): without it, say so
		// and measure with normal scheduling.
		if err := canFIFO(); err != nil {
			fmt.Printf("Note: real-time priority is not available (%v); measuring with normal scheduling (-rt off).\n\n", err)
			lo.rt = "off"
		}
	}
	procs := runtime.GOMAXPROCS(1)
	defer func() { _ = setAffinity(&orig); runtime.GOMAXPROCS(procs) }()
	pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	kf, err := os.CreateTemp("", "loadtest-key-*.pem")
	if err != nil {
		return err
	}
	defer os.Remove(kf.Name())
	_ = pem.Encode(kf, &pem.Block{Type: "PUBLIC KEY", Bytes: pub})
	kf.Close()

	var upURL string
	var pids benchPids
	upTicks := func() int64 { return 0 }
	if upstreamChild {
		up, err := startChild(ctx, "upstream", "", "", lo.upCPU)
		if err != nil {
			return err
		}
		defer up.stop()
		upURL = "http://" + up.addr + "/mcp"
		pids.upstream = up.cmd.Process.Pid
		upTicks = func() int64 { return procTicks(up.cmd.Process.Pid) }
	} else {
		u, stop, err := listen(upstreamHandler())
		if err != nil {
			return err
		}
		defer stop()
		upURL = u + "/mcp"
	}
	upWhere := fmt.Sprintf("the upstream in this process (goroutines) on CPU %d", cpuGenerator)
	if upstreamChild {
		upWhere = fmt.Sprintf("the upstream in a child process on CPU %d", lo.upCPU)
	}
	var kids []*child
	defer func() {
		for _, k := range kids {
			k.stop()
		}
	}()
	targets := map[string]target{}
	pids.kids = map[string]*child{}
	roles := []struct{ role, name, tok string }{
		// Every target gets the same requests, the bearer token included: clients send it
		// whatever is in front of the server (the upstream and the bare proxy ignore it).
		{"bare", "bare httputil.ReverseProxy", tok},
		{"gateway", "mcpgate (RS256, cached verify)", tok},
		{"gateway-nocache", "mcpgate (RS256, verify every request)", tok},
	}
	if withFloorOff {
		roles = append(roles, struct{ role, name, tok string }{"gateway-nofloor", "mcpgate, GC floor off", tok})
	}
	for _, r := range roles {
		k, err := startChild(ctx, r.role, upURL, kf.Name(), cpuProxy)
		if err != nil {
			return err
		}
		kids = append(kids, k)
		pids.proxies = append(pids.proxies, k.cmd.Process.Pid)
		pids.kids[r.role] = k
		name := r.name
		if aaCheck && r.role != "bare" {
			name = "second bare proxy (A/A check, in " + r.role + "'s place)"
		}
		targets[r.role] = target{name, "http://" + k.addr + "/mcp", r.tok}
	}
	proxyTicks := func() int64 {
		var n int64
		for _, k := range kids {
			n += procTicks(k.cmd.Process.Pid)
		}
		if lo.upCPU == cpuProxy {
			n += upTicks()
		}
		return n
	}
	genTicks := func() int64 {
		n := procTicks(os.Getpid())
		if lo.upCPU != cpuProxy {
			n += upTicks()
		}
		return n
	}
	direct := target{"direct (upstream)", upURL, tok}
	bare, gw, gwCold := targets["bare"], targets["gateway"], targets["gateway-nocache"]
	var extra []target
	if withFloorOff {
		extra = append(extra, targets["gateway-nofloor"])
	}

	fmt.Printf("# Gateway load test (isolated processes)\n\n%s, %s, loopback. Each proxy runs in its own child process with GOMAXPROCS=1, pinned with sched_setaffinity to CPU %d; the load generator (this process, GOMAXPROCS=1) on CPU %d, %s. Throughput points: %s. Load average at start: %s.\n\n",
		runtime.Version(), cpuModel(), cpuProxy, cpuGenerator, upWhere, dur, loadAvg())
	fmt.Printf("Garbage collector floor (runtime.gcMinHeap): mcpgate %s, bare proxy %s.%s\n\n", floorText(gcFloors.gateway), floorText(gcFloors.bare), aaText())

	sat, satConc := 0.0, 0
	if lo.only {
		return latencyComparison(ctx, lo, latDur, sat, direct, bare, gw, extra, proxyTicks, genTicks, pids)
	}
	fmt.Printf("## Saturation search (bare proxy, closed loop)\n\n| concurrency | req/s | p50 | p99 |\n|---|---|---|---|\n")
	for _, c := range []int{8, 16, 32, 64} {
		r := closedLoop(ctx, bare, c, dur)
		fmt.Printf("| %d | %.0f | %s | %s |\n", c, r.rps, ms(r.p50), ms(r.p99))
		if r.rps > sat {
			sat, satConc = r.rps, c
		}
	}
	fmt.Printf("\nBare proxy saturation: **%.0f req/s** (at concurrency %d).\n\n", sat, satConc)

	// Rounds in a rotating order (A B C D, B C D A, ...), and each proxy's share of the bare
	// proxy's throughput taken within a round: a slow spell of the machine then weighs on
	// both sides of a ratio rather than on one target.
	const tputRounds = 5
	fmt.Printf("## Throughput, closed loop at concurrency %d (%d rounds in rotating order)\n\n| target | req/s (median round) | p50 | p99 | errors | vs bare: median of the rounds' ratios (range) |\n|---|---|---|---|---|---|\n", satConc, tputRounds)
	tput := map[target][]result{}
	all := []target{direct, bare, gw, gwCold}
	for round := range tputRounds {
		for i := range all {
			t := all[(i+round)%len(all)]
			tput[t] = append(tput[t], closedLoop(ctx, t, satConc, dur))
		}
	}
	for _, t := range all {
		r := median(tput[t])
		rel := "—"
		if t != direct {
			ratios := make([]float64, tputRounds)
			for i := range ratios {
				ratios[i] = 100 * tput[t][i].rps / max(1, tput[bare][i].rps)
			}
			slices.Sort(ratios)
			rel = fmt.Sprintf("%.1f%% (%.1f–%.1f%%)", ratios[tputRounds/2], ratios[0], ratios[tputRounds-1])
		}
		fmt.Printf("| %s | %.0f | %s | %s | %d | %s |\n", t.name, r.rps, ms(r.p50), ms(r.p99), r.errors, rel)
	}

	return latencyComparison(ctx, lo, latDur, sat, direct, bare, gw, extra, proxyTicks, genTicks, pids)
}

// latencyComparison measures latency at half the bare proxy's saturation (or at -rate)
// in interleaved slices (latency.go); direct is in the rotation as the machine's own floor.
func latencyComparison(ctx context.Context, lo latencyOpts, latDur time.Duration, sat float64, direct, bare, gw target, extra []target, proxyTicks, genTicks func() int64, pids benchPids) error {
	// Real-time priority for this comparison only (the throughput phases saturate the
	// proxies' CPU, where SCHED_FIFO would run into the kernel's real-time throttling).
	if lo.rt != "off" {
		for _, pid := range pids.children() {
			if err := setFIFOPid(pid, 1); err != nil {
				return err
			}
		}
	}
	if lo.rt == "all" {
		if err := setFIFOPid(os.Getpid(), 1); err != nil {
			return err
		}
		defer func() { _ = setPolicyPid(os.Getpid(), 0, 0) }()
	}
	rate := sat / 2
	if lo.rate > 0 {
		rate = lo.rate
	}
	ts := append([]target{direct, bare, gw}, extra...)
	for _, t := range ts { // warm-up, discarded
		_ = openLoop(ctx, t, rate, time.Second)
	}
	fmt.Printf("\n## Latency at %s (%.0f req/s, open loop), interleaved\n\n", rateWhy(lo.rate), rate)
	fmt.Printf("One open-loop load, switched between the targets every %s in a balanced order (A C B C A B, repeated: every target follows every other target equally often, since a slice inherits its predecessor's leftovers on the shared CPU), %s per target in all; a block is about one second (the same number of slices of each target). Latency is from sending a request to the end of its response; \"sent late by\" is how far behind its schedule the generator sent it. %s\n\n", lo.slice, latDur, rtWhy(lo.rt))
	upCPU := procTicks(pids.upstream)
	bare0, err1 := snapshot(pids.kids["bare"])
	gw0, err2 := snapshot(pids.kids["gateway"])
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	var freeze []int
	if lo.freeze {
		// Each target's own child (none for the direct target: the upstream serves all).
		freeze = make([]int, len(ts))
		for i, t := range ts {
			for _, k := range pids.kids {
				if t.url == "http://"+k.addr+"/mcp" {
					freeze[i] = k.cmd.Process.Pid
				}
			}
		}
		if k := pids.kids["gateway-nocache"]; k != nil { // not in this comparison: stopped throughout
			_ = syscall.Kill(k.cmd.Process.Pid, syscall.SIGSTOP)
			defer syscall.Kill(k.cmd.Process.Pid, syscall.SIGCONT) //nolint:errcheck // best effort
		}
		fmt.Printf("Each proxy process is stopped (SIGSTOP) outside its own slices, from the moment its slice's last request has finished until its next slice (-freeze-idle): whatever a proxy does between its slices (a collection, the sweeper, the scavenger) waits for its own next slice instead of delaying another target's requests. The schedule pauses while a slice's last requests finish; each slice still runs at the full rate.\n\n")
	}
	ir := interleaved(ctx, ts, rate, latDur, lo.slice, func() (int64, int64) { return genTicks(), proxyTicks() }, freeze)
	if lo.freeze {
		fmt.Printf("Pauses for draining: %s in all (%.2f ms per slice); slices whose last request took over a second (process left running): %d.\n\n",
			ir.drained.Round(time.Millisecond), float64(ir.drained.Microseconds())/1e3/float64(max(1, ir.drains)), ir.unfrozen)
	}
	ir.report(1, 2)
	if len(extra) > 0 { // -with-floor-off
		ir.report(1, 3) // the floor off against the bare proxy
		ir.report(3, 2) // what the floor changes
	}
	n := 0
	for _, b := range ir.slices {
		n += len(b[1].lat)
	}
	bare1, err1 := snapshot(pids.kids["bare"])
	gw1, err2 := snapshot(pids.kids["gateway"])
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	db, dg := bare1.since(bare0, n), gw1.since(gw0, n)
	fmt.Printf("CPU time per request during the comparison (/proc/PID/stat, 10 ms ticks): bare proxy %.1f µs, mcpgate %.1f µs",
		db.ticks*1e4, dg.ticks*1e4) // a tick is 10 ms
	if pids.upstream != 0 {
		fmt.Printf("; the upstream %.1f µs (over every target's requests)", float64(procTicks(pids.upstream)-upCPU)*1e4/float64(max(1, len(ts)*n)))
	}
	fmt.Printf(".\n\n")
	fmt.Printf("System calls per request (/proc/PID/io): bare proxy %.2f reads and %.2f writes, mcpgate %.2f reads and %.2f writes.\n\n",
		db.reads, db.writes, dg.reads, dg.writes)
	// Garbage collection: each cycle takes the proxy's one CPU for a while (with GOMAXPROCS=1
	// its mark work shares the P with the requests), so cycles per request shape the tail.
	fmt.Printf("Garbage collection during the comparison (runtime.MemStats): bare proxy %.1f KB allocated per request and %.2f GC cycles per 1,000 requests; mcpgate %.1f KB and %.2f cycles.\n\n",
		db.allocBytes/1e3, db.cycles*1e3, dg.allocBytes/1e3, dg.cycles*1e3)
	return nil
}

// usage is what a proxy child has used so far: CPU ticks, system calls, GC counters.
type usage struct {
	ticks, reads, writes int64
	gc                   gcStats
}

func snapshot(c *child) (usage, error) {
	pid := c.cmd.Process.Pid
	u := usage{ticks: procTicks(pid)}
	u.reads, u.writes = procSyscalls(pid)
	var err error
	u.gc, err = c.stats()
	return u, err
}

// perRequest is a usage difference divided by a request count.
type perRequest struct{ ticks, reads, writes, cycles, allocBytes float64 }

// since is what was used from u0 to u, per request of n.
func (u usage) since(u0 usage, n int) perRequest {
	d := float64(max(1, n))
	return perRequest{
		ticks: float64(u.ticks-u0.ticks) / d, reads: float64(u.reads-u0.reads) / d, writes: float64(u.writes-u0.writes) / d,
		cycles: float64(u.gc.cycles-u0.gc.cycles) / d, allocBytes: float64(u.gc.allocBytes-u0.gc.allocBytes) / d,
	}
}

// benchPids are the isolated layout's child processes.
type benchPids struct {
	upstream int // 0: the upstream runs inside the generator
	proxies  []int
	kids     map[string]*child // the proxies, by role
}

func (p benchPids) children() []int {
	if p.upstream == 0 {
		return p.proxies
	}
	return append([]int{p.upstream}, p.proxies...)
}

// latencyOpts are the latency comparison's settings.
type latencyOpts struct {
	rate  float64       // fixed rate (0: half the bare proxy's saturation)
	slice time.Duration // how long each target gets the load before the next one
	rt    string        // real-time scheduling: "children", "all" or "off"
	only  bool          // latency comparison only, at rate (skip saturation and throughput)
	upCPU int           // the CPU of the upstream child
	// freeze: stop each proxy process outside its own slices (-freeze-idle)
	freeze bool
}

func rateWhy(fixed float64) string {
	if fixed > 0 {
		return "a fixed rate (-rate)"
	}
	return "half of the bare proxy's saturation"
}

func rtWhy(rt string) string {
	switch rt {
	case "children":
		return "The proxies and the upstream run with real-time priority (SCHED_FIFO 1, -rt children), so that other processes on their CPU wait for them instead of taking turns."
	case "all":
		return "The proxies, the upstream and the generator run with real-time priority (SCHED_FIFO 1, -rt all)."
	}
	return "Normal scheduling (-rt off)."
}

// canFIFO tries SCHED_FIFO on the calling thread and puts it back.
func canFIFO() error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: 1}, 0); err != nil {
		return err
	}
	return unix.SchedSetAttr(0, &unix.SchedAttr{Policy: 0 /* SCHED_OTHER */}, 0)
}

// setFIFOPid gives every thread of process pid SCHED_FIFO at prio (threads created later
// inherit it). Needs CAP_SYS_NICE.
func setFIFOPid(pid, prio int) error {
	return setPolicyPid(pid, 1 /* SCHED_FIFO */, prio)
}

func setPolicyPid(pid int, policy uint32, prio int) error {
	return eachThread(pid, func(tid int) error {
		if err := unix.SchedSetAttr(tid, &unix.SchedAttr{Policy: policy, Priority: uint32(prio)}, 0); err != nil {
			return fmt.Errorf("sched_setattr(%d, policy %d): %w", tid, policy, err)
		}
		return nil
	})
}

// cpuTicks returns the busy time of one CPU (/proc/stat, in clock ticks): everything but
// idle and iowait.
func cpuTicks(cpu int) int64 {
	b, _ := os.ReadFile("/proc/stat")
	pre := "cpu" + strconv.Itoa(cpu) + " "
	for _, l := range strings.Split(string(b), "\n") {
		if !strings.HasPrefix(l, pre) {
			continue
		}
		var busy int64
		for i, f := range strings.Fields(l)[1:] {
			v, _ := strconv.ParseInt(f, 10, 64)
			if i != 3 && i != 4 && i < 8 { // idle, iowait; guest time is already in user
				busy += v
			}
		}
		return busy
	}
	return 0
}

// procTicks returns utime+stime of pid in clock ticks (/proc/PID/stat).
// procSyscalls returns how many read and write system calls pid has made (/proc/PID/io).
func procSyscalls(pid int) (reads, writes int64) {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/io")
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "syscr: "); ok {
			reads, _ = strconv.ParseInt(v, 10, 64)
		}
		if v, ok := strings.CutPrefix(l, "syscw: "); ok {
			writes, _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return reads, writes
}

func procTicks(pid int) int64 {
	b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		f := strings.Fields(s[i+1:])
		if len(f) > 13 {
			u, _ := strconv.ParseInt(f[11], 10, 64)
			st, _ := strconv.ParseInt(f[12], 10, 64)
			return u + st
		}
	}
	return 0
}

func floorText(b int64) string {
	if b < gctune.MinFloor {
		return "off (Go's default pacing)"
	}
	return strconv.FormatInt(b>>20, 10) + " MiB"
}

func aaText() string {
	if !aaCheck {
		return ""
	}
	return " A/A check (-aa): a second bare proxy runs in place of each mcpgate target, so the comparison measures the method itself; its added latency should be about zero."
}
