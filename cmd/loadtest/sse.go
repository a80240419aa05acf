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
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcpgate/mcpgate/internal/benchkit"
	"github.com/mcpgate/mcpgate/internal/gateway"
)

// serveChild serves a proxy (role gateway or bare) on 127.0.0.1, prints "ADDR host:port"
// and runs until stdin closes.
func serveChild(role, upstream, keyFile string) error {
	if os.Getenv("LOADTEST_HEAP_PROFILE") != "" {
		runtime.MemProfileRate = 1 // every allocation, for an exact live-heap profile
	}
	if f := os.Getenv("LOADTEST_CPU_PROFILE"); f != "" && role != "upstream" {
		// Profiling: a CPU profile of the whole life of this child, written when stdin closes.
		w, err := os.Create(f + "." + role)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(w); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); w.Close() }()
	}
	var h http.Handler     // the upstream and the bare proxy
	var gw *gateway.Server // the gateway, served by its own Serve as in `mcpgate serve`
	switch role {
	case "upstream":
		h = upstreamHandler()
	case "bare", "bare-h2c":
		h = newBare(upstream, role == "bare-h2c")
	case "gateway", "gateway-norelay", "gateway-h2c", "gateway-nocache":
		b, err := os.ReadFile(keyFile)
		if err != nil {
			return err
		}
		blk, _ := pem.Decode(b)
		if blk == nil {
			return errors.New("bad key file")
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return err
		}
		v, verr := realVerifier(k.(*rsa.PublicKey), role != "gateway-nocache")
		if verr != nil {
			return verr
		}
		gw, err = newGateway(upstream, v, slog.New(slog.NewJSONHandler(io.Discard, nil)), role == "gateway-h2c", role == "gateway-norelay")
		if err != nil {
			return err
		}
	default:
		return fmt.Errorf("unknown role %q", role)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	fmt.Printf("ADDR %s\n", ln.Addr())
	if gw != nil {
		go func() { _ = gw.Serve(context.Background(), ln) }()
	} else {
		srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
	}
	// The parent drives the child over stdin: "gc" returns freed memory to the OS (so that
	// RSS shows live memory, not garbage awaiting collection); "stats" prints the GC cycles
	// and bytes allocated so far; EOF ends the child.
	heapProfile := os.Getenv("LOADTEST_HEAP_PROFILE")
	if heapProfile != "" { // debugging: where the allocations are, over the child's life
		defer writeProfile("allocs", heapProfile+"."+role+".exit")
	}
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() == "stats" { // GC cycles and bytes allocated so far
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Printf("STATS %d %d\n", ms.NumGC, ms.TotalAlloc)
		}
		if sc.Text() == "gc" {
			runtime.GC()
			debug.FreeOSMemory()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			fmt.Printf("GC heap=%d stack=%d goroutines=%d\n", ms.HeapInuse, ms.StackInuse, runtime.NumGoroutine())
			if heapProfile != "" { // debugging: where the live heap is
				writeProfile("heap", heapProfile+"."+role)
			}
		}
	}
	return nil
}

// writeProfile writes the runtime profile kind ("heap", "allocs") to path.
func writeProfile(kind, path string) {
	if w, err := os.Create(path); err == nil {
		_ = pprof.Lookup(kind).WriteTo(w, 0)
		w.Close()
	}
}

// rss returns VmRSS of pid in bytes.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb * 1024, nil
		}
	}
	return 0, errors.New("no VmRSS")
}

// sseMemory starts the proxy in a child process, opens n idle SSE streams through it and
// reports the growth of the child's RSS per stream.
func sseMemory(ctx context.Context, role, upstream, keyFile, tok string, n int) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, exe, childArgs(role, upstream, keyFile)...)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { stdin.Close(); _ = cmd.Wait() }()
	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "ADDR ") {
		return fmt.Errorf("child did not start: %q %v", line, err)
	}
	addr := strings.TrimSpace(strings.TrimPrefix(line, "ADDR "))
	// No session: the standalone stream of a stateless server (a session id would have to
	// be handed to the load test's user first).
	bearer := ""
	if strings.HasPrefix(role, "gateway") {
		bearer = tok
	}
	open := func() (net.Conn, error) { return benchkit.OpenStream(addr, "/mcp", bearer) }
	// Warm up (code paths, pools), then measure from a settled baseline.
	var warm []net.Conn
	for range 50 {
		if c, err := open(); err == nil {
			warm = append(warm, c)
		}
	}
	for _, c := range warm {
		c.Close()
	}
	time.Sleep(500 * time.Millisecond)
	var lastGC string
	gc := func() error {
		if _, err := io.WriteString(stdin, "gc\n"); err != nil {
			return err
		}
		l, err := out.ReadString('\n')
		lastGC = strings.TrimSpace(strings.TrimPrefix(l, "GC "))
		return err
	}
	if err := gc(); err != nil {
		return err
	}
	before, err := rss(cmd.Process.Pid)
	if err != nil {
		return err
	}
	gcBefore := lastGC
	if (role == "gateway-h2c" || role == "bare-h2c") && n < 10000 {
		n = 10000 // one file descriptor per stream: the full 10,000 fit under the limit
	}
	conns := make([]net.Conn, n)
	var opened, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := open()
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			conns[i] = c
			opened.Add(1)
		}()
		if cctx.Err() != nil {
			break
		}
	}
	wg.Wait()
	time.Sleep(2 * time.Second) // let the streams go idle
	raw, err := rss(cmd.Process.Pid)
	if err != nil {
		return err
	}
	if err := gc(); err != nil {
		return err
	}
	after, err := rss(cmd.Process.Pid)
	for _, c := range conns {
		if c != nil {
			c.Close()
		}
	}
	if err != nil {
		return err
	}
	o := opened.Load()
	note := ""
	if f := failed.Load(); f > 0 {
		note = fmt.Sprintf(" (%d failed: %v)", f, firstErr.Load())
	}
	per := float64(after-before) / float64(max(o, 1))
	perRaw := float64(raw-before) / float64(max(o, 1))
	fmt.Printf("| %s | %d%s | %.1f MiB | %.1f MiB | %.1f KB | %.1f MiB | **%.1f KB** |\n", role, o, note,
		float64(before)/(1<<20), float64(raw)/(1<<20), perRaw/1000, float64(after)/(1<<20), per/1000)
	fmt.Fprintf(os.Stderr, "%s: before %s; after %s\n", role, gcBefore, lastGC)
	return nil
}
