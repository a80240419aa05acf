// Command footprint measures what an idle mcpgate replica costs, next to a bare
// httputil.ReverseProxy measured in the same run (issue 21, docs/benchmarks.md#footprint):
//
//   - start-up: from exec to the first 200 from /readyz (the bare proxy: to its first
//     answer), for `mcpgate serve` with 1 and 1,000 routes, each with JWT auth and a policy;
//   - idle memory: VmRSS, and its anonymous and file-backed parts, from /proc/PID/status
//     after the process has idled;
//   - idle SSE streams: the growth of VmRSS while 2,000 standalone streams (GET
//     text/event-stream) stay open through the proxy, at default settings and without a
//     forced collection, divided by the number of streams.
//
// It builds the binary as the Dockerfile does (CGO_ENABLED=0, -trimpath, -ldflags "-s -w"),
// or measures -bin. The upstream is a loopback server in this process; the bare proxy is
// this program again (-role bare), a binary of little more than net/http.
//
//	go run ./cmd/footprint                 # everything, Markdown on stdout
//	go run ./cmd/footprint -streams 0      # no streams
package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcpgate/mcpgate/internal/benchkit"
)

const issuer = "https://issuer.footprint"

func main() {
	role := flag.String("role", "", "internal: 'bare' serves a bare reverse proxy to -upstream")
	upstreamURL := flag.String("upstream", "", "internal: the bare proxy's upstream")
	bin := flag.String("bin", "", "the mcpgate binary to measure (default: build ./cmd/mcpgate as the Dockerfile does)")
	routeCounts := flag.String("routes", "1,1000", "route counts to start mcpgate with, comma-separated")
	runs := flag.Int("runs", 5, "start-ups per configuration (the spread of start-up times)")
	idle := flag.Duration("idle", 10*time.Second, "how long a process idles before its memory is read")
	streams := flag.Int("streams", 2000, "idle SSE streams to open through each proxy (0: none)")
	flag.Parse()
	if *role == "bare" {
		if err := serveBare(*upstreamURL); err != nil {
			fmt.Fprintln(os.Stderr, "footprint:", err)
			os.Exit(1)
		}
		return
	}
	benchkit.RaiseFDLimit()
	var counts []int
	for f := range strings.SplitSeq(*routeCounts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 100000 {
			fmt.Fprintf(os.Stderr, "footprint: -routes: %q is not a route count (1 to 100000)\n", f)
			os.Exit(2)
		}
		counts = append(counts, n)
	}
	o := opts{bin: *bin, counts: counts, runs: max(*runs, 1), idle: *idle, streams: max(*streams, 0)}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "footprint:", err)
		os.Exit(1)
	}
}

type opts struct {
	bin     string
	counts  []int
	runs    int
	idle    time.Duration
	streams int
}

func run(ctx context.Context, o opts) error {
	dir, err := os.MkdirTemp("", "footprint")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if o.bin == "" {
		o.bin = filepath.Join(dir, "mcpgate")
		fmt.Fprintln(os.Stderr, "building ./cmd/mcpgate ...")
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", o.bin, "./cmd/mcpgate")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("building mcpgate: %w", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	up, err := startUpstream()
	if err != nil {
		return err
	}
	defer up.Close()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}

	fmt.Printf("## Footprint: mcpgate serve against a bare httputil.ReverseProxy\n\n")
	fmt.Printf("mcpgate binary %s, bare proxy binary %s; idle %s before each reading; %d start-ups each.\n\n",
		fileSize(o.bin), fileSize(self), o.idle, o.runs)
	fmt.Println("| process | start-up (median, min–max) | idle VmRSS (median) | anonymous | file-backed |")
	fmt.Println("|---|---|---|---|---|")
	bare := func() (*proc, error) { return startBare(ctx, self, up.url) }
	if err := measureStart(ctx, "bare httputil.ReverseProxy", o, bare); err != nil {
		return err
	}
	for _, n := range o.counts {
		cfg, err := writeConfig(dir, n, key, up.url)
		if err != nil {
			return err
		}
		start := func() (*proc, error) { return startMcpgate(ctx, o.bin, cfg) }
		if err := measureStart(ctx, fmt.Sprintf("mcpgate serve, %d route(s)", n), o, start); err != nil {
			return err
		}
	}
	if o.streams == 0 {
		return nil
	}
	cfg, err := writeConfig(dir, 1, key, up.url)
	if err != nil {
		return err
	}
	addr, _, err := configAddrs(cfg)
	if err != nil {
		return err
	}
	// Default limits allow 32 streams per user on a route: the streams come from 100 users.
	toks := make([]string, 100)
	for i := range toks {
		if toks[i], err = token(key, "http://"+addr, fmt.Sprintf("user-%d", i)); err != nil {
			return err
		}
	}
	fmt.Println()
	fmt.Printf("%d idle SSE streams (GET text/event-stream, HTTP/1.1 upstream), default settings, no forced collection;\n", o.streams)
	fmt.Printf("VmRSS 2 s after the last stream opened, and %s later:\n\n", o.idle)
	fmt.Println("| process | VmRSS before | VmRSS with the streams open (2 s, later) | per stream later (2 s) |")
	fmt.Println("|---|---|---|---|")
	for _, t := range []struct {
		name  string
		start func() (*proc, error)
		path  string
		toks  []string
	}{
		{"bare httputil.ReverseProxy", bare, "/mcp", nil},
		{"mcpgate serve, 1 route", func() (*proc, error) { return startMcpgate(ctx, o.bin, cfg) }, "/r0/mcp", toks},
	} {
		if err := measureStreams(ctx, t.name, o, t.start, t.path, t.toks); err != nil {
			return err
		}
	}
	return nil
}

// proc is a started proxy: its process, its address and how to stop it.
type proc struct {
	cmd    *exec.Cmd
	addr   string        // the proxy's listener
	ready  time.Duration // from exec to ready
	exited chan struct{} // closed when the process has exited
}

// newProc watches the started cmd serving on addr.
func newProc(cmd *exec.Cmd, addr string) *proc {
	p := &proc{cmd: cmd, addr: addr, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	return p
}

// stop kills the process (SIGTERM would wait for mcpgate's drain delay) and waits for it.
func (p *proc) stop() {
	_ = p.cmd.Process.Kill()
	<-p.exited
}

func (p *proc) status() (map[string]int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/status")
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for l := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if f := strings.Fields(v); ok && len(f) == 2 && f[1] == "kB" {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			m[k] = n << 10
		}
	}
	if m["VmRSS"] == 0 {
		return nil, errors.New("no VmRSS in /proc/PID/status")
	}
	return m, nil
}

// measureStart starts a process o.runs times, each time waiting until it is ready, letting
// it idle and reading its memory; it prints one row of medians.
func measureStart(ctx context.Context, name string, o opts, start func() (*proc, error)) error {
	var ready []time.Duration
	var rss, anon, file []int64
	for range o.runs {
		p, err := start()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		ready = append(ready, p.ready)
		select {
		case <-time.After(o.idle):
		case <-ctx.Done():
		}
		st, err := p.status()
		p.stop()
		if err != nil {
			return err
		}
		rss, anon, file = append(rss, st["VmRSS"]), append(anon, st["RssAnon"]), append(file, st["RssFile"])
	}
	slices.Sort(ready)
	fmt.Printf("| %s | %.3f s (%.3f–%.3f) | **%s** (%s–%s) | %s | %s |\n", name,
		median(ready).Seconds(), ready[0].Seconds(), ready[len(ready)-1].Seconds(),
		mb(median(rss)), mb(slices.Min(rss)), mb(slices.Max(rss)), mb(median(anon)), mb(median(file)))
	return nil
}

// measureStreams opens o.streams idle streams through a freshly started proxy and prints
// the growth of its VmRSS per stream. No collection is forced: what a serving process
// holds is what counts.
func measureStreams(ctx context.Context, name string, o opts, start func() (*proc, error), path string, toks []string) error {
	p, err := start()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	defer p.stop()
	open := func(i int) (net.Conn, error) {
		tok := ""
		if len(toks) > 0 {
			tok = toks[i%len(toks)]
		}
		return benchkit.OpenStream(p.addr, path, tok)
	}
	// Warm up the code paths and pools with a few streams, then idle to a baseline.
	for i := range 50 {
		c, err := open(i)
		if err != nil {
			return fmt.Errorf("%s: warming up: %w", name, err)
		}
		c.Close()
	}
	time.Sleep(o.idle)
	before, err := p.status()
	if err != nil {
		return err
	}
	conns := make([]net.Conn, o.streams)
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	sem := make(chan struct{}, 64)
	for i := range conns {
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := open(i)
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err.Error())
				return
			}
			conns[i] = c
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	if f := failed.Load(); f > 0 {
		return fmt.Errorf("%s: %d of %d streams failed, first: %v", name, f, o.streams, firstErr.Load())
	}
	time.Sleep(2 * time.Second) // the streams are open and idle
	soon, err := p.status()
	if err != nil {
		return err
	}
	time.Sleep(o.idle) // the process is idle too
	later, err := p.status()
	if err != nil {
		return err
	}
	per := func(m map[string]int64) string {
		return fmt.Sprintf("%.1f KB", float64(m["VmRSS"]-before["VmRSS"])/float64(o.streams)/1000)
	}
	fmt.Printf("| %s | %s | %s, %s | **%s** (%s) |\n", name, mb(before["VmRSS"]),
		mb(soon["VmRSS"]), mb(later["VmRSS"]), per(later), per(soon))
	return nil
}

// startMcpgate runs `mcpgate serve --config cfg` and waits for /readyz on its admin listener.
func startMcpgate(ctx context.Context, bin, cfg string) (*proc, error) {
	addr, admin, err := configAddrs(cfg)
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, bin, "serve", "--config", cfg)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := newProc(cmd, addr)
	if err := waitReady(ctx, "http://"+admin+"/readyz", p.exited); err != nil {
		p.stop()
		return nil, err
	}
	p.ready = time.Since(t0)
	return p, nil
}

// startBare runs this program as a bare reverse proxy and waits for its first answer.
func startBare(ctx context.Context, self, upstream string) (*proc, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "-role", "bare", "-upstream", upstream)
	cmd.Env = append(os.Environ(), "FOOTPRINT_LISTEN="+addr)
	cmd.Stdout, cmd.Stderr = io.Discard, os.Stderr
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := newProc(cmd, addr)
	if err := waitReady(ctx, "http://"+addr+"/ready", p.exited); err != nil {
		p.stop()
		return nil, err
	}
	p.ready = time.Since(t0)
	return p, nil
}

// waitReady polls u every 2 ms until it answers 200 (at most 30 s).
func waitReady(ctx context.Context, u string, exited <-chan struct{}) error {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if r, err := c.Get(u); err == nil {
			r.Body.Close()
			if r.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("the process exited")
		default:
		}
		time.Sleep(2 * time.Millisecond)
	}
	return fmt.Errorf("%s not ready after 30 s", u)
}

// serveBare is the baseline: httputil.ReverseProxy with its defaults, as a Go developer
// would write it, plus the answer to the readiness probe.
func serveBare(upstream string) error {
	u, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1 // stream events as they come, as mcpgate does
	mux := http.NewServeMux()
	mux.HandleFunc("/ready", func(w http.ResponseWriter, _ *http.Request) {})
	mux.Handle("/", rp)
	srv := &http.Server{Addr: os.Getenv("FOOTPRINT_LISTEN"), Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}

// upstream is the loopback MCP-ish server behind both proxies: a POST gets a JSON-RPC
// result; a GET for text/event-stream gets a stream that sends one comment and then
// stays open until the client leaves.
type upstream struct {
	url string
	srv *http.Server
}

func (u *upstream) Close() { _ = u.srv.Close() }

func startUpstream() (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, ": stream open\n\n")
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
			return
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &upstream{url: "http://" + ln.Addr().String() + "/mcp", srv: srv}, nil
}

// writeConfig writes an mcpgate configuration with n routes, each with JWT auth (one issuer
// with an inline JWKS) and a one-rule policy, all to the same upstream; the listeners are on
// free loopback ports.
func writeConfig(dir string, n int, key *rsa.PrivateKey, upstreamURL string) (string, error) {
	addr, err := freeAddr()
	if err != nil {
		return "", err
	}
	admin, err := freeAddr()
	if err != nil {
		return "", err
	}
	jwks, err := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
		"n": base64.RawURLEncoding.EncodeToString(key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(key.E)).Bytes()),
	}}})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "listen: %s\npublicURL: http://%s\nlog: {level: warn}\nadmin: {listen: %q}\n", addr, addr, admin)
	fmt.Fprintf(&b, "issuers:\n  - name: idp\n    issuer: %s\n    jwks: '%s'\n    audiences: [http://%s]\n", issuer, jwks, addr)
	b.WriteString("routes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: r%d\n    path: /r%d/mcp\n    upstream: {url: %q}\n    auth: {issuers: [idp]}\n", i, i, upstreamURL)
		b.WriteString("    policy:\n      rules:\n        - name: engineers\n          allow: '\"eng\" in user.groups'\n")
	}
	p := filepath.Join(dir, fmt.Sprintf("mcpgate-%d.yaml", n))
	return p, os.WriteFile(p, []byte(b.String()), 0o600)
}

// configAddrs reads back the listener and admin addresses writeConfig chose.
func configAddrs(cfg string) (addr, admin string, err error) {
	b, err := os.ReadFile(cfg)
	if err != nil {
		return "", "", err
	}
	for l := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "listen: "); ok {
			addr = v
		}
		if v, ok := strings.CutPrefix(l, "admin: {listen: "); ok {
			admin, _ = strconv.Unquote(strings.TrimSuffix(v, "}"))
		}
	}
	if addr == "" || admin == "" {
		return "", "", errors.New("no listen or admin address in " + cfg)
	}
	return addr, admin, nil
}

// token is an hour-long RS256 access token of user sub for the routes of the configuration
// whose public URL is aud.
func token(key *rsa.PrivateKey, aud, sub string) (string, error) {
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": issuer, "sub": sub, "aud": aud, "groups": []string{"eng"},
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix(),
	})
	t.Header["kid"] = "k1"
	return t.SignedString(key)
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func median[T int64 | time.Duration](s []T) T {
	c := slices.Clone(s)
	slices.Sort(c)
	return c[len(c)/2]
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

func fileSize(p string) string {
	fi, err := os.Stat(p)
	if err != nil {
		return "?"
	}
	return mb(fi.Size())
}
