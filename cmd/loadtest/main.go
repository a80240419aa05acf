// Command loadtest measures the gateway against an upstream MCP-ish server and a bare
// httputil.ReverseProxy, in one run on loopback: throughput, p50/p99/p99.9 latency, added
// latency at half of the bare proxy's saturation rate, and RSS per idle SSE stream. It is
// run by `make bench` (go run ./cmd/loadtest) and writes a Markdown report to stdout.
//
// By default each proxy and the upstream run in child processes pinned to one CPU and the
// load generator in this process pinned to the other (isolated.go), latency rounds are
// interleaved and each is checked for interference (other processes' CPU time, generator
// lateness). -inprocess runs the old layout with everything in one process.
package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/benchkit"
	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/gctune"
)

const (
	issuer   = "https://issuer.loadtest"
	audience = "http://127.0.0.1/mcp"
)

func main() {
	role := flag.String("role", "", "internal: run as a child serving 'gateway' or 'bare' in front of -upstream")
	upstream := flag.String("upstream", "", "internal: upstream URL for -role")
	keyFile := flag.String("key", "", "internal: PEM public key file for -role gateway")
	dur := flag.Duration("duration", 3*time.Second, "duration of each measurement")
	streams := flag.Int("streams", 9000, "idle SSE streams to hold open (each costs 2 file descriptors in the proxy; the hard limit here is 20000)")
	skipSSE := flag.Bool("skip-sse", false, "skip the idle-stream memory test")
	sseOnly := flag.Bool("sse-only", false, "run only the idle-stream memory test")
	inProcess := flag.Bool("inprocess", false, "throughput and latency with the upstream, the proxies and the generator in one process (the old, jitter-prone layout) instead of pinned child processes")
	latDur := flag.Duration("latency-duration", 60*time.Second, "latency comparison (isolated mode): load time per target, in slices")
	slice := flag.Duration("slice", 20*time.Millisecond, "latency comparison: how long each target gets the load before the next one")
	rate := flag.Float64("rate", 0, "latency comparison: requests per second (0: half of the bare proxy's saturation)")
	rt := flag.String("rt", "all", "latency comparison: real-time priority (SCHED_FIFO) for the proxies and the upstream (children), also the generator (all), or none (off)")
	upCPU := flag.Int("upstream-cpu", cpuProxy, "isolated mode: the CPU of the upstream child: 1 (with the proxies) or 0 (with the generator)")
	latOnly := flag.Bool("latency-only", false, "isolated mode: only the latency comparison, at -rate (skips the saturation search and the throughput comparison)")
	upChild := flag.Bool("upstream-child", true, "isolated mode: run the upstream in its own child process on the proxy's CPU (false: as goroutines inside the generator, on the generator's CPU)")
	cpu := flag.Int("cpu", -1, "internal: pin the -role child to this CPU")
	flag.Int64Var(&gcFloors.gateway, "gc-min-heap", gctune.DefaultMinHeap, "the gateway's garbage collector floor in bytes (runtime.gcMinHeap; default: mcpgate serve's; 0: off)")
	flag.Int64Var(&gcFloors.bare, "bare-gc-min-heap", 0, "the same floor for the bare proxy (default 0: Go's default pacing, as a bare httputil.ReverseProxy runs)")
	childFloor := flag.Int64("child-gc-min-heap", 0, "internal: the -role child's garbage collector floor")
	flag.BoolVar(&withFloorOff, "with-floor-off", false, "latency comparison: a fourth target, mcpgate with the garbage collector floor off (-gc-min-heap 0), interleaved with the others")
	freezeIdle := flag.Bool("freeze-idle", true, "latency comparison: stop (SIGSTOP) each proxy process outside its own slices, so that its housekeeping cannot delay another target's requests (-freeze-idle=false: the proxies run throughout, as before session 4)")
	flag.BoolVar(&aaCheck, "aa", false, "A/A check of the method: a second bare proxy takes mcpgate's place (its added latency should be about zero)")
	flag.Parse()
	benchkit.RaiseFDLimit()
	if *role != "" {
		if *cpu >= 0 {
			if err := pinAll(*cpu); err != nil {
				fmt.Fprintln(os.Stderr, "child:", err)
				os.Exit(1)
			}
		}

		stop, _ := gctune.Start(*childFloor)
		defer stop()
		if err := serveChild(*role, *upstream, *keyFile); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		return
	}
	// The latency comparison takes about 3 × -latency-duration (4 × with -with-floor-off),
	// its bootstrap a few minutes more; the rest about 8 minutes.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute+5*(*latDur))
	defer cancel()
	switch *rt {
	case "children", "all", "off":
	default:
		fmt.Fprintln(os.Stderr, "loadtest: -rt is children, all or off")
		os.Exit(2)
	}
	lo := latencyOpts{rate: *rate, slice: *slice, rt: *rt, only: *latOnly, upCPU: *upCPU, freeze: *freezeIdle}
	if *latOnly && *rate <= 0 {
		fmt.Fprintln(os.Stderr, "loadtest: -latency-only needs -rate")
		os.Exit(2)
	}
	if err := run(ctx, *dur, *streams, *skipSSE, *sseOnly, *inProcess, *latDur, lo, *upChild); err != nil {
		fmt.Fprintln(os.Stderr, "loadtest:", err)
		os.Exit(1)
	}
}

// gcFloors are the garbage collector floors of the proxy children (-gc-min-heap,
// -bare-gc-min-heap); aaCheck runs a bare proxy in the gateway's place (-aa).
var (
	gcFloors     struct{ gateway, bare int64 }
	aaCheck      bool
	withFloorOff bool // -with-floor-off: the gateway-nofloor child and target
)

// childArgs are the arguments of a child serving role: the role it runs (with -aa, the
// gateway's place is taken by a bare proxy) and its garbage collector floor.
func childArgs(role, upstream, keyFile string) []string {
	run, floor := role, int64(0)
	switch {
	case strings.HasPrefix(role, "bare"):
		floor = gcFloors.bare
	case aaCheck && strings.HasPrefix(role, "gateway"): // -aa: a bare proxy in its place
		run, floor = "bare", gcFloors.bare
	case role == "gateway-nofloor": // mcpgate with the floor off (-with-floor-off)
		run = "gateway"
	case strings.HasPrefix(role, "gateway"):
		floor = gcFloors.gateway
	}
	return []string{"-role", run, "-upstream", upstream, "-key", keyFile, "-child-gc-min-heap", strconv.FormatInt(floor, 10)}
}

func fdLimit() uint64 {
	var l syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l)
	return l.Cur
}

// upstreamHandler is a fast MCP-ish server: POST answers a JSON-RPC result echoing the
// id; GET opens an SSE stream that stays idle.
func upstreamHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet:
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Cache-Control", "no-cache")
			w.WriteHeader(200)
			_, _ = io.WriteString(w, ": stream open\n\n")
			http.NewResponseController(w).Flush()
			<-r.Context().Done()
		default:
			b, _ := io.ReadAll(r.Body)
			var m struct {
				ID json.RawMessage `json:"id"`
			}
			_ = json.Unmarshal(b, &m)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Mcp-Session-Id", "bench-session")
			_, _ = fmt.Fprintf(w, `{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"sunny, 21C"}],"isError":false}}`, m.ID)
		}
	})
}

// realVerifier is mcpgate's own token verifier (internal/authn) for the load test's issuer,
// with the key given inline as a JWKS, exactly as a configured issuer with `jwks:` would be:
// signature, alg allow-list, issuer, audience and expiry checks, and the verified-token cache
// (off when cache is false, to show the cost of an RS256 check on every request).
func realVerifier(pub *rsa.PublicKey, cache bool) (authn.Verifier, error) {
	jwks, err := json.Marshal(map[string]any{"keys": []any{map[string]any{
		"kty": "RSA", "kid": benchKID, "alg": "RS256", "use": "sig",
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
	if err != nil {
		return nil, err
	}
	// The configuration's defaults for an issuer: authn's own, and a clock skew of 60s.
	is := authn.Issuer{Name: "bench", Issuer: issuer, JWKS: string(jwks), ClockSkew: 60 * time.Second}
	opts := authn.Options{}
	if !cache {
		opts.CacheSize = -1
	}
	reg, err := authn.NewRegistry(context.Background(), []authn.Issuer{is}, opts)
	if err != nil {
		return nil, err
	}
	return reg.Verifier([]string{"bench"}, []string{audience})
}

const benchKID = "bench-rs256"

// newGateway builds the gateway under test; serve it with its own Serve (listenGateway),
// as `mcpgate serve` does.
func newGateway(up string, v authn.Verifier, log *slog.Logger, h2c, noRelay bool) (*gateway.Server, error) {
	return gateway.New(gateway.Options{Logger: log, DisableSSERelay: noRelay, Routes: []gateway.RouteOptions{{
		Name: "bench", Path: "/mcp", Upstream: up, Verifier: v, Scopes: []string{"mcp.tools"}, H2C: h2c,
		AuthorizationServers: []string{issuer}, Identity: gateway.IdentityHeaders{Subject: "X-User"},
		// One load-test user opens every stream: the per-user and per-route caps would refuse most.
		MaxStreamsPerUser: 1 << 30, MaxStreams: 1 << 30,
	}}})
}

// listenGateway serves gw on a new loopback listener through gateway.Server.Serve.
func listenGateway(gw *gateway.Server) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = gw.Serve(ctx, ln); close(done) }()
	return "http://" + ln.Addr().String(), func() { cancel(); <-done }, nil
}

func newBare(up string, h2c bool) http.Handler {
	u, _ := url.Parse(up)
	rp := httputil.NewSingleHostReverseProxy(u)
	// The default FlushInterval (0) already streams SSE and bodies of unknown length as they
	// come (ReverseProxy flushes those immediately) and writes a whole JSON response at once;
	// -1 would flush after every write, two more write system calls per request.
	// A pooled copy buffer, as a production deployment would configure (without it the
	// proxy allocates 32 KiB per request and the baseline would be needlessly slow).
	rp.BufferPool = bufferPool{}
	t := &http.Transport{MaxIdleConns: 1024, MaxIdleConnsPerHost: 512, IdleConnTimeout: 90 * time.Second}
	if h2c { // HTTP/2 with prior knowledge to the upstream, as the gateway's h2c route option
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
	}
	rp.Transport = t
	return rp
}

type bufferPool struct{}

var bufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *bufs.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { bufs.Put(&b) }

func listen(h http.Handler) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	srv.Protocols = new(http.Protocols) // HTTP/1.1, and h2c for the gateway-h2c variant
	srv.Protocols.SetHTTP1(true)
	srv.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

type target struct{ name, url, token string }

func run(ctx context.Context, dur time.Duration, streams int, skipSSE, sseOnly, inProcess bool, latDur time.Duration, lo latencyOpts, upChild bool) error {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": issuer, "aud": audience, "sub": "bench-user", "client_id": "bench", "scope": "mcp.tools",
		"exp": time.Now().Add(2 * time.Hour).Unix(), "iat": time.Now().Unix(),
	})
	t.Header["kid"] = benchKID
	tok, err := t.SignedString(key)
	if err != nil {
		return err
	}
	header := true
	if !inProcess && !sseOnly {
		if err := isolated(ctx, key, tok, dur, latDur, lo, upChild); err != nil {
			return err
		}
		if skipSSE {
			return nil
		}
		sseOnly, header = true, false
	}
	cached, err := realVerifier(&key.PublicKey, true)
	if err != nil {
		return err
	}
	uncached, err := realVerifier(&key.PublicKey, false)
	if err != nil {
		return err
	}
	upURL, stopUp, err := listen(upstreamHandler())
	if err != nil {
		return err
	}
	defer stopUp()
	bareURL, stopBare, _ := listen(newBare(upURL+"/mcp", false))
	defer stopBare()
	// The gateway logs its access line for every request, as in production (JSON to a sink).
	accessLog := slog.New(slog.NewJSONHandler(io.Discard, nil))
	gwh, err := newGateway(upURL+"/mcp", cached, accessLog, false, false)
	if err != nil {
		return err
	}
	gwURL, stopGw, err := listenGateway(gwh)
	if err != nil {
		return err
	}
	defer stopGw()
	gwColdH, err := newGateway(upURL+"/mcp", uncached, accessLog, false, false)
	if err != nil {
		return err
	}
	gwColdURL, stopCold, err := listenGateway(gwColdH)
	if err != nil {
		return err
	}
	defer stopCold()

	// Every target gets the same requests, the bearer token included: clients send it
	// whatever is in front of the server (the upstream and the bare proxy ignore it).
	direct := target{"direct (upstream)", upURL + "/mcp", tok}
	bare := target{"bare httputil.ReverseProxy", bareURL + "/mcp", tok}
	gw := target{"mcpgate (RS256, cached verify)", gwURL + "/mcp", tok}
	gwCold := target{"mcpgate (RS256, verify every request)", gwColdURL + "/mcp", tok}

	if header {
		fmt.Printf("# Gateway load test\n\n%s, GOMAXPROCS=%d, %s, loopback; load generator in the same process. Each point: %s. Load average at start: %s.\n\n",
			runtime.Version(), runtime.GOMAXPROCS(0), cpuModel(), dur, loadAvg())
	}

	if !sseOnly {
		throughputAndLatency(ctx, dur, direct, bare, gw, gwCold)
	}

	if !skipSSE {
		// Release every connection of the throughput phases (file descriptors are scarce),
		// and give the streams a fresh upstream.
		stopBare()
		stopGw()
		stopCold()
		stopUp()
		time.Sleep(time.Second)
		sseUp, stopSSEUp, err := listen(upstreamHandler())
		if err != nil {
			return err
		}
		defer stopSSEUp()
		upURL = sseUp
		fmt.Printf("\n## Idle SSE streams: RSS per stream (proxy in a child process)\n\n")
		fmt.Printf("RSS of the proxy process (/proc/PID/status VmRSS) before and after opening the streams; \"live\" is after runtime.GC + debug.FreeOSMemory (no garbage awaiting collection).\n\n")
		fmt.Printf("| proxy | streams | RSS before | RSS after | per stream | RSS after, live | per stream, live |\n|---|---|---|---|---|---|---|\n")
		pub, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
		kf, err := os.CreateTemp("", "loadtest-key-*.pem")
		if err != nil {
			return err
		}
		defer os.Remove(kf.Name())
		_ = pem.Encode(kf, &pem.Block{Type: "PUBLIC KEY", Bytes: pub})
		kf.Close()
		for _, role := range []string{"bare", "gateway-norelay", "gateway", "bare-h2c", "gateway-h2c"} {
			if err := sseMemory(ctx, role, upURL+"/mcp", kf.Name(), tok, streams); err != nil {
				fmt.Printf("| %s | failed: %v | | | |\n", role, err)
			}
		}
		fmt.Printf("\nFile descriptor limit: %d. Over HTTP/1.1 each stream holds a client-side and an upstream-side connection in the proxy; gateway-h2c multiplexes the upstream side over HTTP/2 (route option h2c), bare-h2c is the bare proxy with the same HTTP/2 transport (its baseline). gateway relays idle HTTP/1.1 GET streams (internal/gateway/relay.go); gateway-norelay is the same gateway with DisableSSERelay (the net/http path for every stream); gateway-h2c relays them too, with the upstream side an HTTP/2 stream on the route's shared connections.\n", fdLimit())
	}
	return nil
}

// median returns the round with the median throughput, with the median p50 and p99 of
// all rounds.
func median(rs []result) result {
	byRPS := slices.Clone(rs)
	slices.SortFunc(byRPS, func(a, b result) int { return int(a.rps - b.rps) })
	m := byRPS[len(byRPS)/2]
	p50s, p99s, p999s := make([]time.Duration, len(rs)), make([]time.Duration, len(rs)), make([]time.Duration, len(rs))
	for i, r := range rs {
		p50s[i], p99s[i], p999s[i] = r.p50, r.p99, r.p999
	}
	slices.Sort(p50s)
	slices.Sort(p99s)
	slices.Sort(p999s)
	m.p50, m.p99, m.p999 = p50s[len(rs)/2], p99s[len(rs)/2], p999s[len(rs)/2]
	return m
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond)) }

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if _, v, ok := strings.Cut(l, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOARCH
}

type result struct {
	rps                 float64
	p50, p99, p999, max time.Duration
	lag99               time.Duration // open loop: p99 of the generator's lateness
	errors              int64
}

func newClient(conc int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conc * 2, MaxIdleConnsPerHost: conc * 2, DisableCompression: true, IdleConnTimeout: 30 * time.Second,
	}}
}

const body = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Paris"}}}`

// started records the targets whose session was started: the gateway serves a session id
// only to the principal it was handed to, so each target's first request opens it (the
// upstream hands out bench-session to every request without one).
var started sync.Map

func doOne(c *http.Client, t target) error {
	if _, ok := started.Load(t.url + t.token); !ok {
		if err := post(c, t, ""); err != nil {
			return err
		}
		started.Store(t.url+t.token, true)
	}
	return post(c, t, "bench-session")
}

func post(c *http.Client, t target, session string) error {
	req, _ := http.NewRequest(http.MethodPost, t.url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	if t.token != "" {
		req.Header.Set("Authorization", "Bearer "+t.token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

func summarize(lat [][]time.Duration, n int64, errs int64, elapsed time.Duration) result {
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	r := result{rps: float64(n) / elapsed.Seconds(), errors: errs}
	if len(all) > 0 {
		r.p50 = all[len(all)*50/100]
		r.p99 = all[min(len(all)-1, len(all)*99/100)]
		r.p999 = all[min(len(all)-1, len(all)*999/1000)]
		r.max = all[len(all)-1]
	}
	return r
}

// closedLoop runs conc workers, each sending the next request when the previous ended.
func closedLoop(ctx context.Context, t target, conc int, dur time.Duration) result {
	c := newClient(conc)
	defer c.CloseIdleConnections()
	// warm up connections and caches
	for range conc {
		_ = doOne(c, t)
	}
	runtime.GC()
	lat := make([][]time.Duration, conc)
	var n, errs atomic.Int64
	deadline := time.Now().Add(dur)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) && ctx.Err() == nil {
				s := time.Now()
				if err := doOne(c, t); err != nil {
					errs.Add(1)
					continue
				}
				lat[i] = append(lat[i], time.Since(s))
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	return summarize(lat, n.Load(), errs.Load(), time.Since(start))
}

// openLoop sends requests at a fixed rate; latency is measured from each request's
// scheduled start (so that a stall is not hidden by coordinated omission).
func openLoop(ctx context.Context, t target, rate float64, dur time.Duration) result {
	// Enough workers for the in-flight requests at this rate (Little's law) with plenty of
	// headroom, but not so many that connection churn becomes the bottleneck.
	const workers = 48
	c := newClient(workers)
	defer c.CloseIdleConnections()
	for range workers {
		_ = doOne(c, t)
	}
	runtime.GC()
	interval := time.Duration(float64(time.Second) / rate)
	total := int(rate * dur.Seconds())
	sched := make(chan time.Time, total)
	start := time.Now()
	for i := range total {
		sched <- start.Add(time.Duration(i) * interval)
	}
	close(sched)
	lat, lags := make([][]time.Duration, workers), make([][]time.Duration, workers)
	for w := range lat { // sized up front: no slice growth while measuring
		lat[w] = make([]time.Duration, 0, 2*total/workers+16)
		lags[w] = make([]time.Duration, 0, 2*total/workers+16)
	}
	var n, errs atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for at := range sched {
				if ctx.Err() != nil {
					return
				}
				// Latency counts from the scheduled time when the generator is behind
				// (queueing), from the actual start when it had to wait (timer slack is not
				// the system's latency).
				from := at
				if d := time.Until(at); d > 0 {
					time.Sleep(d)
					from = time.Now()
				} else {
					lags[w] = append(lags[w], -d)
				}
				if err := doOne(c, t); err != nil {
					errs.Add(1)
					continue
				}
				lat[w] = append(lat[w], time.Since(from))
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	r := summarize(lat, n.Load(), errs.Load(), time.Since(start))
	// Generator lag: how late requests were sent after their scheduled time (a request
	// sent on time counts 0). A high value means the generator's CPU was not available.
	var all []time.Duration
	for _, l := range lags {
		all = append(all, l...)
	}
	slices.Sort(all)
	if i := n.Load()*99/100 - (n.Load() - int64(len(all))); i >= 0 && int(i) < len(all) {
		r.lag99 = all[i]
	}
	return r
}

// throughputAndLatency runs the saturation search, the throughput comparison and the
// latency comparison at half of the bare proxy's saturation.
func throughputAndLatency(ctx context.Context, dur time.Duration, direct, bare, gw, gwCold target) {
	fmt.Printf("## Saturation search (bare proxy, closed loop)\n\n| concurrency | req/s | p50 | p99 |\n|---|---|---|---|\n")
	sat, satConc := 0.0, 0
	for _, c := range []int{16, 32, 64, 128} {
		r := closedLoop(ctx, bare, c, dur)
		fmt.Printf("| %d | %.0f | %s | %s |\n", c, r.rps, ms(r.p50), ms(r.p99))
		if r.rps > sat {
			sat, satConc = r.rps, c
		}
	}
	fmt.Printf("\nBare proxy saturation: **%.0f req/s** (at concurrency %d).\n\n", sat, satConc)

	// 2. Throughput at the saturating concurrency, every target, interleaved rounds (the
	// machine is shared: interleaving spreads background load over all targets; the
	// median round is reported).
	const rounds = 3
	fmt.Printf("## Throughput, closed loop at concurrency %d (median of %d interleaved rounds)\n\n| target | req/s | p50 | p99 | errors | vs bare |\n|---|---|---|---|---|---|\n", satConc, rounds)
	tput := map[target][]result{}
	for range rounds {
		for _, t := range []target{direct, bare, gw, gwCold} {
			tput[t] = append(tput[t], closedLoop(ctx, t, satConc, dur))
		}
	}
	bareRPS := median(tput[bare]).rps
	for _, t := range []target{direct, bare, gw, gwCold} {
		r := median(tput[t])
		rel := "—"
		if t != direct {
			rel = fmt.Sprintf("%.1f%%", 100*r.rps/bareRPS)
		}
		fmt.Printf("| %s | %.0f | %s | %s | %d | %s |\n", t.name, r.rps, ms(r.p50), ms(r.p99), r.errors, rel)
	}

	// 3. Latency at half the bare proxy's saturation rate (open loop, paced).
	rate := sat / 2
	fmt.Printf("\n## Latency at half of the bare proxy's saturation (%.0f req/s, open loop, median of %d interleaved rounds)\n\n| target | achieved req/s | p50 | p99 | p99 added vs bare | p99 added vs direct |\n|---|---|---|---|---|---|\n", rate, rounds)
	lat := map[target][]result{}
	for range rounds {
		for _, t := range []target{direct, bare, gw} {
			lat[t] = append(lat[t], openLoop(ctx, t, rate, dur))
		}
	}
	p99Direct, p99Bare := median(lat[direct]).p99, median(lat[bare]).p99
	for _, t := range []target{direct, bare, gw} {
		r := median(lat[t])
		addB, addD := "—", "—"
		if t == gw {
			addB, addD = ms(r.p99-p99Bare), ms(r.p99-p99Direct)
		} else if t == bare {
			addD = ms(r.p99 - p99Direct)
		}
		fmt.Printf("| %s | %.0f | %s | %s | %s | %s |\n", t.name, r.rps, ms(r.p50), ms(r.p99), addB, addD)
	}
}
