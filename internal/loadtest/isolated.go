package main

import (
	"bufio"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
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
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, set); err != nil {
			return fmt.Errorf("sched_setaffinity(%d): %w", tid, err)
		}
	}
	return nil
}

// child is a proxy or upstream running in its own process (serveChild).
type child struct {
	role  string
	addr  string
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startChild runs this binary with -role, pinned to cpu with GOMAXPROCS=1.
func startChild(ctx context.Context, role, upstream, keyFile string, cpu int) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, "-role", role, "-upstream", upstream, "-key", keyFile, "-cpu", strconv.Itoa(cpu))
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
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		stdin.Close()
		_ = cmd.Wait()
		return nil, fmt.Errorf("%s child did not start: %q %v", role, line, err)
	}
	return &child{role: role, addr: strings.TrimSpace(strings.TrimPrefix(line, "ADDR ")), cmd: cmd, stdin: stdin}, nil
}

// stop closes the child's stdin (it exits, writing its CPU profile if asked) and waits.
func (c *child) stop() {
	c.stdin.Close()
	_ = c.cmd.Wait()
}

// isolated measures throughput and latency with each proxy and the upstream in child
// processes pinned to their own CPU (see cpuProxy), the generator in this process.
func isolated(ctx context.Context, key *rsa.PrivateKey, tok string, dur, latDur time.Duration, rounds int, upstreamChild bool) error {
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
	upTicks := func() int64 { return 0 }
	if upstreamChild {
		up, err := startChild(ctx, "upstream", "", "", cpuProxy)
		if err != nil {
			return err
		}
		defer up.stop()
		upURL = "http://" + up.addr + "/mcp"
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
		upWhere = fmt.Sprintf("the upstream in a child process on CPU %d", cpuProxy)
	}
	var kids []*child
	defer func() {
		for _, k := range kids {
			k.stop()
		}
	}()
	targets := map[string]target{}
	for _, r := range []struct{ role, name, tok string }{
		{"bare", "bare httputil.ReverseProxy", ""},
		{"gateway", "mcpgate (RS256, cached verify)", tok},
		{"gateway-nocache", "mcpgate (RS256, verify every request)", tok},
	} {
		k, err := startChild(ctx, r.role, upURL, kf.Name(), cpuProxy)
		if err != nil {
			return err
		}
		kids = append(kids, k)
		targets[r.role] = target{r.name, "http://" + k.addr + "/mcp", r.tok}
	}
	proxyTicks := func() int64 {
		var n int64
		for _, k := range kids {
			n += procTicks(k.cmd.Process.Pid)
		}
		return n + upTicks()
	}
	genTicks := func() int64 { return procTicks(os.Getpid()) }
	direct := target{"direct (upstream)", upURL, ""}
	bare, gw, gwCold := targets["bare"], targets["gateway"], targets["gateway-nocache"]

	fmt.Printf("# Gateway load test (isolated processes)\n\n%s, %s, loopback. Each proxy runs in its own child process with GOMAXPROCS=1, pinned with sched_setaffinity to CPU %d; the load generator (this process, GOMAXPROCS=1) on CPU %d, %s. Throughput points: %s; latency rounds: %s each, %d per proxy, interleaved. Load average at start: %s.\n\n",
		runtime.Version(), cpuModel(), cpuProxy, cpuGenerator, upWhere, dur, latDur, rounds, loadAvg())

	fmt.Printf("## Saturation search (bare proxy, closed loop)\n\n| concurrency | req/s | p50 | p99 |\n|---|---|---|---|\n")
	sat, satConc := 0.0, 0
	for _, c := range []int{8, 16, 32, 64} {
		r := closedLoop(ctx, bare, c, dur)
		fmt.Printf("| %d | %.0f | %s | %s |\n", c, r.rps, ms(r.p50), ms(r.p99))
		if r.rps > sat {
			sat, satConc = r.rps, c
		}
	}
	fmt.Printf("\nBare proxy saturation: **%.0f req/s** (at concurrency %d).\n\n", sat, satConc)

	const tputRounds = 3
	fmt.Printf("## Throughput, closed loop at concurrency %d (median of %d interleaved rounds)\n\n| target | req/s | p50 | p99 | errors | vs bare |\n|---|---|---|---|---|---|\n", satConc, tputRounds)
	tput := map[target][]result{}
	all := []target{direct, bare, gw, gwCold}
	for range tputRounds {
		for _, t := range all {
			tput[t] = append(tput[t], closedLoop(ctx, t, satConc, dur))
		}
	}
	bareRPS := median(tput[bare]).rps
	for _, t := range all {
		r := median(tput[t])
		rel := "—"
		if t != direct {
			rel = fmt.Sprintf("%.1f%%", 100*r.rps/bareRPS)
		}
		fmt.Printf("| %s | %.0f | %s | %s | %d | %s |\n", t.name, r.rps, ms(r.p50), ms(r.p99), r.errors, rel)
	}

	// Latency at half the bare proxy's saturation: a warm-up round per proxy (discarded),
	// then rounds in ABBA order so that neither proxy always runs first.
	rate := sat / 2
	for _, t := range []target{bare, gw} {
		_ = openLoop(ctx, t, rate, 2*time.Second)
	}
	lat := map[target][]result{}
	fmt.Printf("\n## Latency at half of the bare proxy's saturation (%.0f req/s, open loop, %s per round)\n\n| round | target | achieved req/s | p50 | p99 | p99.9 | max | generator lag p99 | other processes on CPU %d / CPU %d | clean |\n|---|---|---|---|---|---|---|---|---|---|\n", rate, latDur, cpuGenerator, cpuProxy)
	for i := range rounds {
		order := []target{bare, gw}
		if i%2 == 1 {
			order = []target{gw, bare}
		}
		for _, t := range order {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// The generator's own GC (one P, shared CPU) would show up as the proxies'
			// latency: it is off during a round (a few hundred MB of garbage at most).
			gc := debug.SetGCPercent(-1)
			// Other processes on the proxy's CPU: its busy time minus the proxies' own.
			cpu1, own1 := cpuTicks(cpuProxy), proxyTicks()
			cpu0, own0 := cpuTicks(cpuGenerator), genTicks()
			t0 := time.Now()
			r := openLoop(ctx, t, rate, latDur)
			secs := time.Since(t0).Seconds()
			foreign1 := max(0, float64((cpuTicks(cpuProxy)-cpu1)-(proxyTicks()-own1))/100/secs)
			foreign0 := max(0, float64((cpuTicks(cpuGenerator)-cpu0)-(genTicks()-own0))/100/secs)
			debug.SetGCPercent(gc)
			// A round is clean when no other process took more than 5% of either CPU and
			// the generator sent at least 99% of its requests on time.
			r.clean = foreign0 < 0.05 && foreign1 < 0.05 && r.lag99 == 0 && r.errors == 0
			lat[t] = append(lat[t], r)
			mark := "no"
			if r.clean {
				mark = "yes"
			}
			fmt.Printf("| %d | %s | %.0f | %s | %s | %s | %s | %s | %.0f%% / %.0f%% | %s |\n", i+1, t.name, r.rps, ms(r.p50), ms(r.p99), ms(r.p999), ms(r.max), ms(r.lag99), 100*foreign0, 100*foreign1, mark)
		}
	}
	// Medians over the clean pairs (both rounds of a pair clean) when there are at least
	// three; otherwise over all rounds, said so.
	var cb, cg []result
	for i := range rounds {
		if lat[bare][i].clean && lat[gw][i].clean {
			cb, cg = append(cb, lat[bare][i]), append(cg, lat[gw][i])
		}
	}
	which := fmt.Sprintf("all %d rounds — fewer than 3 clean pairs (other processes took CPU, or the generator fell behind): not a valid measurement", rounds)
	if len(cb) >= 3 {
		lat[bare], lat[gw], rounds = cb, cg, len(cb)
		which = fmt.Sprintf("the %d clean round pairs", len(cb))
	}
	fmt.Printf("\n### Medians over %s (min–max in brackets)\n\n| target | p50 | p99 | p99.9 |\n|---|---|---|---|\n", which)
	stat := func(rs []result, f func(result) time.Duration) (med, lo, hi time.Duration) {
		v := make([]time.Duration, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		slices.Sort(v)
		return v[len(v)/2], v[0], v[len(v)-1]
	}
	cell := func(rs []result, f func(result) time.Duration) string {
		m, lo, hi := stat(rs, f)
		return fmt.Sprintf("%s (%.3f–%.3f)", ms(m), float64(lo)/1e6, float64(hi)/1e6)
	}
	p50f := func(r result) time.Duration { return r.p50 }
	p99f := func(r result) time.Duration { return r.p99 }
	p999f := func(r result) time.Duration { return r.p999 }
	for _, t := range []target{bare, gw} {
		fmt.Printf("| %s | %s | %s | %s |\n", t.name, cell(lat[t], p50f), cell(lat[t], p99f), cell(lat[t], p999f))
	}
	// Added latency: difference of the medians, and the median of the per-round
	// differences (each round pairs a bare and an mcpgate measurement taken back to back).
	paired := func(f func(result) time.Duration) string {
		d := make([]result, rounds)
		for i := range rounds {
			d[i] = result{p50: f(lat[gw][i]) - f(lat[bare][i])}
		}
		return cell(d, p50f)
	}
	b50, _, _ := stat(lat[bare], p50f)
	g50, _, _ := stat(lat[gw], p50f)
	b99, _, _ := stat(lat[bare], p99f)
	g99, _, _ := stat(lat[gw], p99f)
	b999, _, _ := stat(lat[bare], p999f)
	g999, _, _ := stat(lat[gw], p999f)
	fmt.Printf("| **added** (difference of medians) | %s | **%s** | %s |\n", ms(g50-b50), ms(g99-b99), ms(g999-b999))
	fmt.Printf("| added, median of per-round differences (min–max) | %s | %s | %s |\n", paired(p50f), paired(p99f), paired(p999f))
	return nil
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
