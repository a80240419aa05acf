package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// rawUpstream is an upstream whose every byte the test writes by hand.
type rawUpstream struct {
	url  string
	reqs chan *rawReq
}

type rawReq struct {
	req *http.Request
	c   net.Conn
}

func newRawUpstream(t *testing.T) *rawUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &rawUpstream{url: "http://" + ln.Addr().String() + "/mcp", reqs: make(chan *rawReq, 16)}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					c.Close()
					return
				}
				u.reqs <- &rawReq{req: req, c: c}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return u
}

func (u *rawUpstream) next(t *testing.T) *rawReq {
	t.Helper()
	select {
	case r := <-u.reqs:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream got no request")
		return nil
	}
}

const sseHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nMcp-Session-Id: s1\r\nCache-Control: no-cache\r\n"

// chunk frames p as one HTTP/1.1 chunk (with an extension, which must be ignored).
func chunk(p string) string { return fmt.Sprintf("%x;ext=1\r\n%s\r\n", len(p), p) }

// waitLive waits until the gateway has n relayed streams open.
func waitLive(t *testing.T, gw *Server, n int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for gw.relays.live.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("relayed streams: %d, want %d", gw.relays.live.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type observed struct{ ch chan *Event }

func newObserved() *observed { return &observed{ch: make(chan *Event, 16)} }
func (o *observed) Observe(_ context.Context, e *Event) {
	if e.HTTPMethod == http.MethodGet {
		o.ch <- e
	}
}
func (o *observed) next(t *testing.T) *Event {
	t.Helper()
	select {
	case e := <-o.ch:
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no observer event for the stream")
		return nil
	}
}

// The events used by the framing tests: comments, id/event/retry, multi-line data, CRLF
// and CR line ends, a stray blank line, an event to drop, a non-message event and a
// trailing event without its blank line.
var relayPieces = []string{
	": priming\nid: e1\nretry: 2500\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"secret\":1}}\n\n",
	"id: e2\r\ndata: {\"jsonrpc\":\"2.0\",\r\ndata: \"id\":1,\"result\":{\"secret\":true}}\r\n\r\n",
	"data: {\"drop\":true}\r\rid: e3\ndata: {\"sec",
	"ret\":2}\n\n\n\nevent: other\ndata: secret stays\n\n",
	"data: {\"tail\":\"secret\"}",
}

func testRewrite(_ context.Context, msg []byte) ([]byte, error) {
	if strings.Contains(string(msg), "drop") {
		return nil, nil
	}
	return []byte(strings.ReplaceAll(string(msg), "secret", "XXXX")), nil
}

// upStream is one SSE stream of a test upstream, driven by the test: raw HTTP/1.1 bytes
// (rawUpstream) or an HTTP/2 stream of an h2c server (h2cUpstream).
type upStream interface {
	header() http.Header // the request's
	// head answers 200 text/event-stream (HTTP/1.1: chunked or close-delimited).
	head(t *testing.T, chunked bool)
	// frame returns the bytes that carry payload p on the wire (HTTP/1.1 chunked: a chunk).
	frame(p string) string
	// wire sends s at once: HTTP/1.1 bytes as they are; h2c one DATA frame.
	wire(t *testing.T, s string)
	// finish ends the stream cleanly: the last chunk, closing a close-delimited response,
	// or the handler returning (END_STREAM).
	finish(t *testing.T)
	// breakConn breaks the upstream's TCP connection.
	breakConn(t *testing.T)
	// waitGone waits until the gateway has ended the stream: its connection closed
	// (HTTP/1.1) or the upstream handler's context cancelled (h2c).
	waitGone(t *testing.T)
}

type testUpstream interface {
	URL() string
	nextStream(t *testing.T) upStream
}

// The upstream kinds every relay test runs against.
var upstreamKinds = []struct {
	name string
	h2c  bool
}{{"HTTP/1.1 upstream", false}, {"h2c upstream", true}}

func newTestUpstream(t *testing.T, h2c bool) testUpstream {
	if h2c {
		return newH2CUpstream(t)
	}
	return newRawUpstream(t)
}

func (u *rawUpstream) URL() string                      { return u.url }
func (u *rawUpstream) nextStream(t *testing.T) upStream { return &rawStream{rawReq: u.next(t)} }

type rawStream struct {
	*rawReq
	chunked bool
}

func (s *rawStream) header() http.Header { return s.req.Header }
func (s *rawStream) head(t *testing.T, chunked bool) {
	s.chunked = chunked
	h := sseHead
	if chunked {
		h += "Transfer-Encoding: chunked\r\n"
	}
	s.wire(t, h+"\r\n")
}
func (s *rawStream) frame(p string) string {
	if s.chunked {
		return chunk(p)
	}
	return p
}
func (s *rawStream) wire(t *testing.T, str string) {
	t.Helper()
	if _, err := io.WriteString(s.c, str); err != nil {
		t.Fatal(err)
	}
}
func (s *rawStream) finish(t *testing.T) {
	if s.chunked {
		s.wire(t, "0\r\nX-Trailer: 1\r\n\r\n")
	} else {
		s.c.Close()
	}
}
func (s *rawStream) breakConn(*testing.T) { s.c.Close() }
func (s *rawStream) waitGone(t *testing.T) {
	t.Helper()
	_ = s.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Errorf("the upstream connection was not closed: %v", err)
	}
}

// h2cUpstream is an HTTP/2-only server without TLS (prior knowledge, as route option h2c
// speaks). Its handler runs what the test sends it; it counts the TCP connections it
// accepted.
type h2cUpstream struct {
	url      string
	reqs     chan *h2cStream
	accepted atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
}

type h2cStream struct {
	u    *h2cUpstream
	req  *http.Request
	ops  chan func(http.ResponseWriter) bool // false: the handler returns
	gone chan struct{}                       // closed when the handler's context was cancelled
}

type countingListener struct {
	net.Listener
	u *h2cUpstream
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.u.accepted.Add(1)
		l.u.mu.Lock()
		l.u.conns = append(l.u.conns, c)
		l.u.mu.Unlock()
	}
	return c, err
}

func newH2CUpstream(t *testing.T) *h2cUpstream {
	t.Helper()
	u := &h2cUpstream{reqs: make(chan *h2cStream, 512)}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := &h2cStream{u: u, req: r, ops: make(chan func(http.ResponseWriter) bool), gone: make(chan struct{})}
		u.reqs <- s
		for {
			select {
			case op := <-s.ops:
				if !op(w) {
					return
				}
			case <-r.Context().Done():
				close(s.gone)
				return
			}
		}
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Listener = countingListener{Listener: srv.Listener, u: u}
	srv.Start()
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	u.url = srv.URL + "/mcp"
	return u
}

func (u *h2cUpstream) URL() string { return u.url }
func (u *h2cUpstream) nextStream(t *testing.T) upStream {
	t.Helper()
	select {
	case s := <-u.reqs:
		if s.req.ProtoMajor != 2 {
			t.Fatalf("the upstream got %s, want HTTP/2", s.req.Proto)
		}
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream got no request")
		return nil
	}
}

// do runs f on the stream's handler goroutine and waits for it.
func (s *h2cStream) do(t *testing.T, f func(http.ResponseWriter) bool) {
	t.Helper()
	done := make(chan struct{})
	select {
	case s.ops <- func(w http.ResponseWriter) bool { defer close(done); return f(w) }:
	case <-s.gone:
		t.Fatal("the upstream stream was cancelled")
	case <-time.After(5 * time.Second):
		t.Fatal("the upstream handler is not running")
	}
	<-done
}

func (s *h2cStream) header() http.Header { return s.req.Header }
func (s *h2cStream) head(t *testing.T, _ bool) {
	s.do(t, func(w http.ResponseWriter) bool {
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Mcp-Session-Id", "s1")
		h.Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		return true
	})
}
func (s *h2cStream) frame(p string) string { return p }
func (s *h2cStream) wire(t *testing.T, str string) {
	s.do(t, func(w http.ResponseWriter) bool {
		_, _ = io.WriteString(w, str)
		w.(http.Flusher).Flush()
		return true
	})
}
func (s *h2cStream) finish(t *testing.T) { s.do(t, func(http.ResponseWriter) bool { return false }) }
func (s *h2cStream) breakConn(*testing.T) {
	s.u.mu.Lock()
	defer s.u.mu.Unlock()
	for _, c := range s.u.conns {
		c.Close()
	}
}
func (s *h2cStream) waitGone(t *testing.T) {
	t.Helper()
	select {
	case <-s.gone:
	case <-time.After(5 * time.Second):
		t.Error("the upstream stream was not cancelled (its handler's context is still live)")
	}
}

// readWithin reads exactly n bytes from r, failing the test after d.
func readWithin(t *testing.T, r io.Reader, n int, d time.Duration) string {
	t.Helper()
	type res struct {
		b   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		ch <- res{b, err}
	}()
	select {
	case x := <-ch:
		if x.err != nil {
			t.Fatalf("reading %d bytes: %v", n, x.err)
		}
		return string(x.b)
	case <-time.After(d):
		t.Fatalf("%d bytes did not arrive within %v", n, d)
		return ""
	}
}

// TestRelayFraming: the relayed stream's body is byte for byte what the normal path
// sends, with and without a per-event rewrite, for chunked and close-delimited HTTP/1.1
// upstreams and for h2c upstreams; every piece reaches the client before the upstream
// sends the next one (no buffering), and Last-Event-ID reaches the upstream.
func TestRelayFraming(t *testing.T) {
	for _, tc := range []struct {
		name    string
		h2c     bool
		chunked bool
		rewrite bool
		split   int // write the upstream's bytes this many at a time (0: a piece at a time)
	}{
		{"chunked", false, true, false, 0},
		{"chunked, split in 3-byte writes", false, true, false, 3},
		{"close-delimited", false, false, false, 0},
		{"chunked with rewrite", false, true, true, 0},
		{"chunked with rewrite, split", false, true, true, 5},
		{"close-delimited with rewrite", false, false, true, 0},
		{"h2c", true, false, false, 0},
		{"h2c, split in 3-byte frames", true, false, false, 3},
		{"h2c, split in 1-byte frames", true, false, false, 1}, // every byte is a held peeked byte
		{"h2c with rewrite", true, false, true, 0},
		{"h2c with rewrite, split", true, false, true, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bodies [2]string
			for i, relay := range []bool{true, false} {
				bodies[i] = relayFramingRun(t, relay, tc.h2c, tc.chunked, tc.rewrite, tc.split)
			}
			if bodies[0] != bodies[1] {
				t.Fatalf("relayed body differs from the normal path's:\nrelay:  %q\nnormal: %q", bodies[0], bodies[1])
			}
			want := strings.Join(relayPieces, "")
			if tc.rewrite {
				want = ": priming\nid: e1\nretry: 2500\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"XXXX\":1}}\n\n" +
					"id: e2\ndata: {\"jsonrpc\":\"2.0\",\ndata: \"id\":1,\"result\":{\"XXXX\":true}}\n\n" +
					"id: e3\ndata: {\"XXXX\":2}\n\nevent: other\ndata: secret stays\n\ndata: {\"tail\":\"XXXX\"}\n"
			}
			if bodies[0] != want {
				t.Fatalf("body\n got %q\nwant %q", bodies[0], want)
			}
		})
	}
}

func relayFramingRun(t *testing.T, relay, h2c, chunked, rewrite bool, split int) string {
	up := newTestUpstream(t, h2c)
	obs := newObserved()
	ro := RouteOptions{Name: "r", Path: "/mcp", Upstream: up.URL(), Mode: ModePermissive, Observer: obs, H2C: h2c}
	if rewrite {
		ro.Interceptor = InterceptorFunc(func(context.Context, *Call) Verdict { return Verdict{Rewrite: testRewrite} })
	}
	gw, base := newGateway(t, Options{Routes: []RouteOptions{ro}})
	gw.relays.off = !relay

	req, _ := http.NewRequest(http.MethodGet, base+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Last-Event-ID", "e0")
	type result struct {
		resp *http.Response
		err  error
	}
	rc := make(chan result, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		rc <- result{resp, err}
	}()
	us := up.nextStream(t)
	if got := us.header().Get("Last-Event-ID"); got != "e0" {
		t.Errorf("Last-Event-ID upstream: %q", got)
	}
	write := func(s string) {
		for s != "" {
			n := len(s)
			if split > 0 {
				n = min(n, split)
			}
			us.wire(t, s[:n])
			s = s[n:]
			if split > 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	us.head(t, chunked)
	res := <-rc
	if res.err != nil {
		t.Fatal(res.err)
	}
	resp := res.resp
	defer resp.Body.Close()
	if resp.Header.Get("Mcp-Session-Id") != "s1" || resp.Header.Get("Content-Type") != "text/event-stream" || resp.Header.Get("X-Accel-Buffering") != "no" {
		t.Errorf("headers %v", resp.Header)
	}
	if relay {
		waitLive(t, gw, 1)
	} else if gw.relays.live.Load() != 0 {
		t.Fatal("the relay served a stream while disabled")
	}
	var got strings.Builder
	br := bufio.NewReader(resp.Body)
	for i, p := range relayPieces {
		write(us.frame(p))
		if rewrite || i == len(relayPieces)-1 {
			continue // events are delivered when complete; checked by the body comparison
		}
		// Without a rewrite, every piece is delivered before the upstream sends more.
		b := readWithin(t, br, len(p), 5*time.Second)
		if b != p {
			t.Fatalf("piece %d: %q, want %q", i, b, p)
		}
		got.WriteString(b)
	}
	us.finish(t)
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatalf("the stream did not end cleanly: %v", err)
	}
	got.Write(rest)
	e := obs.next(t)
	if e.Status != 200 || e.UpstreamStatus != 200 || e.Error != "" || e.Latency <= 0 {
		t.Errorf("observer event: status %d upstream %d error %q latency %v", e.Status, e.UpstreamStatus, e.Error, e.Latency)
	}
	if relay {
		waitLive(t, gw, 0)
	}
	us.breakConn(t)
	return got.String()
}

// TestRelayEnds: whoever ends a relayed stream, the other side is closed and the stream
// is reported once with the reason.
func TestRelayEnds(t *testing.T) {
	sendX := func(t *testing.T, us upStream, _ net.Conn) { us.wire(t, us.frame("data: {\"x\":1}\n\n")) }
	for _, tc := range []struct {
		name       string
		end        func(t *testing.T, us upStream, client net.Conn)
		only       string // "raw" or "h2c": the case applies to one upstream kind
		upstream   bool   // the gateway must end the upstream stream
		clientEOF  bool   // the client must see its response end
		clean      bool   // with the final chunk
		wantErr    string // in the observer event
		wantPrefix bool   // h2c: wantErr is a prefix (the HTTP/2 error follows)
		rewrite    Rewriter
	}{
		{"client disconnects", func(t *testing.T, _ upStream, c net.Conn) { c.Close() }, "", true, false, false, "client closed the stream", false, nil},
		{"client disconnects, watched by a goroutine", func(t *testing.T, _ upStream, c net.Conn) { c.Close() }, "", true, false, false, "client closed the stream", false, nil},
		{"upstream ends the stream", func(t *testing.T, us upStream, _ net.Conn) { us.finish(t) }, "", true, true, true, "", false, nil},
		{"upstream connection breaks", func(t *testing.T, us upStream, _ net.Conn) { us.breakConn(t) }, "raw", false, true, true, "upstream stream ended: unexpected EOF", false, nil},
		{"upstream connection breaks", func(t *testing.T, us upStream, _ net.Conn) { us.breakConn(t) }, "h2c", false, true, true, "upstream stream ended: ", true, nil},
		{"upstream resets the stream", func(t *testing.T, us upStream, _ net.Conn) {
			us.(*h2cStream).do(t, func(http.ResponseWriter) bool { panic(http.ErrAbortHandler) })
		}, "h2c", false, true, true, "upstream stream ended: stream error: ", true, nil},
		{"upstream sends bad chunking", func(t *testing.T, us upStream, _ net.Conn) { us.wire(t, "zz\r\n") }, "raw", true, true, true, "upstream stream ended: malformed chunked encoding from the upstream", false, nil},
		{"rewrite fails", sendX, "", true, true, true, "rewrite failed: boom", false,
			func(context.Context, []byte) ([]byte, error) { return nil, errors.New("boom") }},
		{"rewrite panics", sendX, "", true, true, false, "internal error in the SSE relay", false,
			func(context.Context, []byte) ([]byte, error) { panic("boom") }},
	} {
		for _, k := range upstreamKinds {
			if tc.only != "" && (tc.only == "h2c") != k.h2c {
				continue
			}
			t.Run(tc.name+", "+k.name, func(t *testing.T) {
				up := newTestUpstream(t, k.h2c)
				obs := newObserved()
				ro := RouteOptions{Name: "r", Path: "/mcp", Upstream: up.URL(), Mode: ModePermissive, Observer: obs, H2C: k.h2c}
				if tc.rewrite != nil {
					ro.Interceptor = InterceptorFunc(func(context.Context, *Call) Verdict { return Verdict{Rewrite: tc.rewrite} })
				}
				gw, base := newGateway(t, Options{Routes: []RouteOptions{ro}})
				gw.relays.noPoll = strings.HasSuffix(tc.name, "goroutine")
				c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				io.WriteString(c, "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
				us := up.nextStream(t)
				us.head(t, true)
				us.wire(t, us.frame(": open\n\n"))
				br := bufio.NewReader(c)
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatal(err)
				}
				if !resp.Close {
					t.Error("a relayed response must announce Connection: close")
				}
				if got := readWithin(t, resp.Body, len(": open\n\n"), 5*time.Second); got != ": open\n\n" {
					t.Fatalf("first event %q", got)
				}
				waitLive(t, gw, 1)
				tc.end(t, us, c)
				if tc.upstream && !(k.h2c && tc.name == "upstream ends the stream") {
					us.waitGone(t)
				}
				if tc.clientEOF {
					_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
					rest, err := io.ReadAll(resp.Body)
					if tc.clean && err != nil {
						t.Errorf("client stream: %q, %v", rest, err)
					}
				}
				e := obs.next(t)
				if ok := e.Error == tc.wantErr || (tc.wantPrefix && strings.HasPrefix(e.Error, tc.wantErr)); !ok {
					t.Errorf("observer error %q, want %q", e.Error, tc.wantErr)
				}
				waitLive(t, gw, 0)
				select {
				case e := <-obs.ch:
					t.Errorf("the stream was reported twice: %+v", e)
				case <-time.After(50 * time.Millisecond):
				}
			})
		}
	}
}

// TestRelayIdleTimeout: a relayed stream on which nothing arrives for
// limits.streamIdleTimeout ends cleanly with the reason, and the upstream stream is ended;
// events reset the timer.
func TestRelayIdleTimeout(t *testing.T) {
	for _, k := range upstreamKinds {
		t.Run(k.name, func(t *testing.T) {
			const idle = 300 * time.Millisecond
			up := newTestUpstream(t, k.h2c)
			obs := newObserved()
			gw, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL(), Mode: ModePermissive,
				Observer: obs, H2C: k.h2c, StreamIdleTimeout: idle}}})
			type result struct {
				resp *http.Response
				err  error
			}
			rc := make(chan result, 1)
			go func() {
				resp, err := http.Get(base + "/mcp")
				rc <- result{resp, err}
			}()
			us := up.nextStream(t)
			us.head(t, true)
			res := <-rc
			if res.err != nil {
				t.Fatal(res.err)
			}
			defer res.resp.Body.Close()
			waitLive(t, gw, 1)
			start := time.Now()
			// Events every idle/3 keep the stream open for twice the timeout.
			for i := range 6 {
				ev := fmt.Sprintf("id: %d\ndata: {}\n\n", i)
				us.wire(t, us.frame(ev))
				if got := readWithin(t, res.resp.Body, len(ev), 5*time.Second); got != ev {
					t.Fatalf("event %q, want %q", got, ev)
				}
				time.Sleep(idle / 3)
			}
			if gw.relays.live.Load() != 1 {
				t.Fatal("the stream ended while events kept arriving")
			}
			rest, err := io.ReadAll(res.resp.Body) // then silence: the gateway ends the stream
			if err != nil || len(rest) != 0 {
				t.Errorf("the stream did not end cleanly: %q %v", rest, err)
			}
			if el := time.Since(start); el < 2*idle || el > 2*idle+3*time.Second {
				t.Errorf("the stream ended after %v (idle timeout %v)", el, idle)
			}
			e := obs.next(t)
			if e.Error != "stream idle timeout (limits.streamIdleTimeout)" {
				t.Errorf("observer error %q", e.Error)
			}
			us.waitGone(t)
			waitLive(t, gw, 0)
		})
	}
}

// TestRelayShutdown: Shutdown waits for relayed streams (which http.Server does not
// track) and closes them when its timeout ends.
func TestRelayShutdown(t *testing.T) {
	for _, tc := range []struct {
		name    string
		release bool // the upstream ends the stream during the drain
		timeout time.Duration
		wantErr error
	}{
		{"drains", true, 5 * time.Second, nil},
		{"closes at the timeout", false, 300 * time.Millisecond, context.DeadlineExceeded},
	} {
		for _, k := range upstreamKinds {
			t.Run(tc.name+", "+k.name, func(t *testing.T) {
				up := newTestUpstream(t, k.h2c)
				obs := newObserved()
				gw, err := New(Options{ShutdownTimeout: tc.timeout, Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL(), Mode: ModePermissive, H2C: k.h2c, Observer: obs}}})
				if err != nil {
					t.Fatal(err)
				}
				ln, _ := net.Listen("tcp", "127.0.0.1:0")
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				go func() { done <- gw.Serve(ctx, ln) }()
				t.Cleanup(func() { gw.kill(); cancel() })
				type result struct {
					resp *http.Response
					err  error
				}
				rc := make(chan result, 1)
				go func() {
					resp, err := http.Get("http://" + ln.Addr().String() + "/mcp")
					rc <- result{resp, err}
				}()
				us := up.nextStream(t)
				us.head(t, true)
				us.wire(t, us.frame("id: 1\ndata: {}\n\n"))
				res := <-rc
				if res.err != nil {
					t.Fatal(res.err)
				}
				defer res.resp.Body.Close()
				br := bufio.NewReader(res.resp.Body)
				if l, err := br.ReadString('\n'); err != nil || l != "id: 1\n" {
					t.Fatalf("first event %q %v", l, err)
				}
				waitLive(t, gw, 1)
				start := time.Now()
				cancel() // graceful shutdown with the relayed stream open
				if tc.release {
					time.Sleep(100 * time.Millisecond)
					us.wire(t, us.frame("id: 2\ndata: {}\n\n"))
					us.finish(t)
				}
				rest, _ := io.ReadAll(br)
				if got := strings.Contains(string(rest), "id: 2"); got != tc.release {
					t.Errorf("final event delivered: %v (%q)", got, rest)
				}
				select {
				case err := <-done:
					if !errors.Is(err, tc.wantErr) {
						t.Errorf("Serve returned %v, want %v", err, tc.wantErr)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("Serve did not return")
				}
				if el := time.Since(start); !tc.release && (el < tc.timeout || el > tc.timeout+2*time.Second) {
					t.Errorf("the stream was closed after %v, timeout %v", el, tc.timeout)
				}
				if !(k.h2c && tc.release) { // an h2c stream the upstream ended has nothing left to end
					us.waitGone(t)
				}
				wantErr := ""
				if !tc.release {
					wantErr = "stream closed by gateway shutdown"
				}
				if e := obs.next(t); e.Error != wantErr {
					t.Errorf("observer error %q, want %q", e.Error, wantErr)
				}
				waitLive(t, gw, 0)
			})
		}
	}
}

// TestRelayH2CSharedConnections: many relayed h2c streams share the route's few HTTP/2
// connections to the upstream (one file descriptor per stream in the gateway instead
// of two), and all of them end when their clients go.
func TestRelayH2CSharedConnections(t *testing.T) {
	const n = 200
	up := newH2CUpstream(t)
	gw, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL(), Mode: ModePermissive, H2C: true,
		MaxStreamsPerUser: n}}}) // every stream comes from the same anonymous caller
	addr := strings.TrimPrefix(base, "http://")
	// The upstream answers every stream as it comes.
	served := make(chan upStream, n)
	go func() {
		for range n {
			select {
			case s := <-up.reqs:
				done := make(chan struct{})
				s.ops <- func(w http.ResponseWriter) bool {
					defer close(done)
					w.Header().Set("Content-Type", "text/event-stream")
					_, _ = io.WriteString(w, ": open\n\n")
					w.(http.Flusher).Flush()
					return true
				}
				<-done
				served <- s
			case <-time.After(10 * time.Second):
				return
			}
		}
	}()
	open := func() (net.Conn, error) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "GET /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			c.Close()
			return nil, err
		}
		b := make([]byte, len(": open\n\n"))
		if _, err := io.ReadFull(resp.Body, b); err != nil || string(b) != ": open\n\n" {
			c.Close()
			return nil, fmt.Errorf("first event %q %v", b, err)
		}
		return c, nil
	}
	clients := make([]net.Conn, n)
	var err error
	if clients[0], err = open(); err != nil { // the first stream dials the connection
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 1; i < n; i++ {
		wg.Go(func() {
			c, err := open()
			if err != nil {
				errs <- err
				return
			}
			clients[i] = c
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	waitLive(t, gw, n)
	t.Logf("%d relayed h2c streams, %d upstream connections", n, up.accepted.Load())
	if a := up.accepted.Load(); a > 2 {
		t.Errorf("%d relayed h2c streams used %d upstream connections, want at most 2", n, a)
	}
	var streams []upStream
	for range n {
		streams = append(streams, <-served)
	}
	for _, c := range clients {
		c.Close()
	}
	for _, s := range streams {
		s.waitGone(t)
	}
	waitLive(t, gw, 0)
}

// TestRelayTLSAndHTTP2: HTTPS HTTP/1.1 clients are relayed too (hijacking works over
// TLS); HTTP/2 clients cannot be hijacked and stay on the normal path.
func TestRelayTLSAndHTTP2(t *testing.T) {
	for _, tc := range []struct {
		name      string
		http2     bool
		wantRelay bool
	}{{"TLS, HTTP/1.1", false, true}, {"TLS, HTTP/2", true, false}} {
		t.Run(tc.name, func(t *testing.T) {
			up := newRawUpstream(t)
			obs := newObserved()
			gw, err := New(Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.url, Mode: ModePermissive, Observer: obs}}})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewUnstartedServer(gw.Handler())
			srv.EnableHTTP2 = tc.http2
			srv.StartTLS()
			t.Cleanup(func() { gw.kill(); srv.CloseClientConnections(); srv.Close() })
			client := srv.Client()
			if tc.http2 {
				client.Transport.(*http.Transport).ForceAttemptHTTP2 = true
			} else {
				client.Transport.(*http.Transport).TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
			}
			type result struct {
				resp *http.Response
				err  error
			}
			rc := make(chan result, 1)
			go func() {
				resp, err := client.Get(srv.URL + "/mcp")
				rc <- result{resp, err}
			}()
			ur := up.next(t)
			io.WriteString(ur.c, sseHead+"Transfer-Encoding: chunked\r\n\r\n"+chunk("id: 1\ndata: {}\n\n"))
			res := <-rc
			if res.err != nil {
				t.Fatal(res.err)
			}
			defer res.resp.Body.Close()
			if got := res.resp.ProtoMajor == 2; got != tc.http2 {
				t.Fatalf("client spoke %s", res.resp.Proto)
			}
			b := make([]byte, len("id: 1\ndata: {}\n\n"))
			if _, err := io.ReadFull(res.resp.Body, b); err != nil || string(b) != "id: 1\ndata: {}\n\n" {
				t.Fatalf("event %q %v", b, err)
			}
			if tc.wantRelay {
				waitLive(t, gw, 1)
			} else if gw.relays.live.Load() != 0 {
				t.Fatal("an HTTP/2 stream was relayed")
			}
			io.WriteString(ur.c, chunk("id: 2\ndata: {}\n\n")+"0\r\n\r\n")
			rest, err := io.ReadAll(res.resp.Body)
			if err != nil || string(rest) != "id: 2\ndata: {}\n\n" {
				t.Fatalf("rest %q %v", rest, err)
			}
			if e := obs.next(t); e.Error != "" || e.Status != 200 {
				t.Errorf("observer event %+v", e)
			}
		})
	}
}

// TestRelayFallback: a GET that the upstream does not answer with a 200 SSE stream is
// served by the normal path from the same upstream exchange.
func TestRelayFallback(t *testing.T) {
	for _, tc := range []struct {
		name, resp, wantBody string
		wantStatus           int
	}{
		{"405", "HTTP/1.1 405 Method Not Allowed\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", "{}", 405},
		{"SSE with a Content-Length", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 9\r\n\r\ndata: x\n\n", "data: x\n\n", 200},
		{"100 Continue first", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nno!", "no!", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newRawUpstream(t)
			gw, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.url, Mode: ModePermissive}}})
			go func() {
				ur := up.next(t)
				io.WriteString(ur.c, tc.resp)
			}()
			getWhole(t, base+"/mcp", tc.wantStatus, tc.wantBody)
			if gw.relays.live.Load() != 0 {
				t.Fatal("relayed")
			}
		})
	}
}

// TestRelaySDKClient: the official go-sdk client's standalone GET stream is relayed and
// delivers a server notification, from an HTTP/1.1 and from an h2c upstream.
func TestRelaySDKClient(t *testing.T) {
	for _, k := range upstreamKinds {
		t.Run(k.name, func(t *testing.T) { testRelaySDKClient(t, k.h2c) })
	}
}

func testRelaySDKClient(t *testing.T, h2c bool) {
	srv := sdk.NewServer(&sdk.Implementation{Name: "upstream", Version: "1.0.0"}, nil)
	sdk.AddTool(srv, &sdk.Tool{Name: "one"}, func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
		return &sdk.CallToolResult{}, nil, nil
	})
	up := httptest.NewUnstartedServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, nil))
	if h2c {
		up.Config.Protocols = new(http.Protocols)
		up.Config.Protocols.SetUnencryptedHTTP2(true)
	}
	up.Start()
	t.Cleanup(up.Close)
	gw, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Verifier: testVerifier(t), Scopes: []string{"mcp.tools"}, H2C: h2c}}})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	changed := make(chan struct{}, 4)
	client := sdk.NewClient(&sdk.Implementation{Name: "c", Version: "1"}, &sdk.ClientOptions{
		ToolListChangedHandler: func(context.Context, *sdk.ToolListChangedRequest) { changed <- struct{}{} },
	})
	cs, err := client.Connect(ctx, &sdk.StreamableClientTransport{Endpoint: base + "/mcp", HTTPClient: &http.Client{Transport: bearerTransport{tok: mintToken(t, nil), base: http.DefaultTransport}}, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitLive(t, gw, 1) // the standalone GET stream
	sdk.AddTool(srv, &sdk.Tool{Name: "two"}, func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
		return &sdk.CallToolResult{}, nil, nil
	})
	select {
	case <-changed:
	case <-ctx.Done():
		t.Fatal("notifications/tools/list_changed did not arrive over the relayed GET stream")
	}
	tools, err := cs.ListTools(ctx, nil)
	if err != nil || len(tools.Tools) != 2 {
		t.Fatalf("tools/list: %v %+v", err, tools)
	}
	if err := cs.Close(); err != nil {
		t.Fatal(err)
	}
	waitLive(t, gw, 0)
}

// TestRelayFallbackH2C: on an h2c route too, a GET that the upstream does not answer with
// a 200 SSE stream of unknown length is served by the normal path, and a relay that is
// switched off leaves SSE streams there.
func TestRelayFallbackH2C(t *testing.T) {
	for _, tc := range []struct {
		name       string
		off        bool
		answer     func(w http.ResponseWriter)
		wantStatus int
		wantBody   string
	}{
		{"405", false, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			io.WriteString(w, "{}")
		}, 405, "{}"},
		{"SSE with a Content-Length", false, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Content-Length", "9")
			io.WriteString(w, "data: x\n\n")
		}, 200, "data: x\n\n"},
		{"relay off", true, func(w http.ResponseWriter) {
			w.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(w, "data: x\n\n")
		}, 200, "data: x\n\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newH2CUpstream(t)
			gw, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL(), Mode: ModePermissive, H2C: true}}})
			gw.relays.off = tc.off
			go func() {
				s := up.nextStream(t).(*h2cStream)
				s.do(t, func(w http.ResponseWriter) bool { tc.answer(w); return false })
			}()
			resp := getWhole(t, base+"/mcp", tc.wantStatus, tc.wantBody)
			if gw.relays.live.Load() != 0 || resp.Close {
				t.Fatal("relayed")
			}
		})
	}
}

// getWhole GETs url, reads the whole answer and checks its status and body.
func getWhole(t *testing.T, url string, status int, body string) *http.Response {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status || string(b) != body {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
	return resp
}
