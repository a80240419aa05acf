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

// TestRelayFraming: the relayed stream's body is byte for byte what the normal path
// sends, with and without a per-event rewrite, for chunked and close-delimited
// upstreams; every piece reaches the client before the upstream sends the next one
// (no buffering), and Last-Event-ID reaches the upstream.
func TestRelayFraming(t *testing.T) {
	for _, tc := range []struct {
		name    string
		chunked bool
		rewrite bool
		split   int // write the upstream's bytes this many at a time (0: a piece at a time)
	}{
		{"chunked", true, false, 0},
		{"chunked, split in 3-byte writes", true, false, 3},
		{"close-delimited", false, false, 0},
		{"chunked with rewrite", true, true, 0},
		{"chunked with rewrite, split", true, true, 5},
		{"close-delimited with rewrite", false, true, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bodies [2]string
			for i, relay := range []bool{true, false} {
				bodies[i] = relayFramingRun(t, relay, tc.chunked, tc.rewrite, tc.split)
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

func relayFramingRun(t *testing.T, relay, chunked, rewrite bool, split int) string {
	up := newRawUpstream(t)
	obs := newObserved()
	ro := RouteOptions{Name: "r", Path: "/mcp", Upstream: up.url, Mode: ModePermissive, Observer: obs}
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
	ur := up.next(t)
	if got := ur.req.Header.Get("Last-Event-ID"); got != "e0" {
		t.Errorf("Last-Event-ID upstream: %q", got)
	}
	head := sseHead
	if chunked {
		head += "Transfer-Encoding: chunked\r\n"
	}
	write := func(s string) {
		for s != "" {
			n := len(s)
			if split > 0 {
				n = min(n, split)
			}
			if _, err := io.WriteString(ur.c, s[:n]); err != nil {
				t.Fatal(err)
			}
			s = s[n:]
			if split > 0 {
				time.Sleep(time.Millisecond)
			}
		}
	}
	write(head + "\r\n")
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
		if chunked {
			write(chunk(p))
		} else {
			write(p)
		}
		if rewrite || i == len(relayPieces)-1 {
			continue // events are delivered when complete; checked by the body comparison
		}
		// Without a rewrite, every piece is delivered before the upstream sends more.
		b := make([]byte, len(p))
		_ = ur.c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(br, b); err != nil {
			t.Fatalf("piece %d not delivered while the upstream waits: %v", i, err)
		}
		if string(b) != p {
			t.Fatalf("piece %d: %q, want %q", i, b, p)
		}
		got.Write(b)
	}
	if chunked {
		write("0\r\nX-Trailer: 1\r\n\r\n")
	} else {
		ur.c.Close()
	}
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
	ur.c.Close()
	return got.String()
}

// TestRelayEnds: whoever ends a relayed stream, the other side is closed and the stream
// is reported once with the reason.
func TestRelayEnds(t *testing.T) {
	for _, tc := range []struct {
		name      string
		end       func(t *testing.T, ur *rawReq, client net.Conn)
		upstream  bool   // the upstream connection must be closed by the gateway
		clientEOF bool   // the client must see its response end
		clean     bool   // with the final chunk
		wantErr   string // in the observer event
		rewrite   Rewriter
	}{
		{"client disconnects", func(t *testing.T, _ *rawReq, c net.Conn) { c.Close() }, true, false, false, "client closed the stream", nil},
		{"client disconnects, watched by a goroutine", func(t *testing.T, _ *rawReq, c net.Conn) { c.Close() }, true, false, false, "client closed the stream", nil},
		{"upstream ends the stream", func(t *testing.T, ur *rawReq, _ net.Conn) { io.WriteString(ur.c, "0\r\n\r\n") }, true, true, true, "", nil},
		{"upstream connection breaks", func(t *testing.T, ur *rawReq, _ net.Conn) { ur.c.Close() }, false, true, true, "upstream stream ended: unexpected EOF", nil},
		{"upstream sends bad chunking", func(t *testing.T, ur *rawReq, _ net.Conn) { io.WriteString(ur.c, "zz\r\n") }, true, true, true, "upstream stream ended: malformed chunked encoding from the upstream", nil},
		{"rewrite fails", func(t *testing.T, ur *rawReq, _ net.Conn) { io.WriteString(ur.c, chunk("data: {\"x\":1}\n\n")) }, true, true, true, "rewrite failed: boom",
			func(context.Context, []byte) ([]byte, error) { return nil, errors.New("boom") }},
		{"rewrite panics", func(t *testing.T, ur *rawReq, _ net.Conn) { io.WriteString(ur.c, chunk("data: {\"x\":1}\n\n")) }, true, true, false, "internal error in the SSE relay",
			func(context.Context, []byte) ([]byte, error) { panic("boom") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			up := newRawUpstream(t)
			obs := newObserved()
			ro := RouteOptions{Name: "r", Path: "/mcp", Upstream: up.url, Mode: ModePermissive, Observer: obs}
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
			ur := up.next(t)
			io.WriteString(ur.c, sseHead+"Transfer-Encoding: chunked\r\n\r\n"+chunk(": open\n\n"))
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !resp.Close {
				t.Error("a relayed response must announce Connection: close")
			}
			b := make([]byte, len(": open\n\n"))
			if _, err := io.ReadFull(resp.Body, b); err != nil {
				t.Fatal(err)
			}
			waitLive(t, gw, 1)
			tc.end(t, ur, c)
			if tc.upstream {
				_ = ur.c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := ur.c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
					t.Errorf("the upstream connection was not closed: %v", err)
				}
			}
			if tc.clientEOF {
				_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
				rest, err := io.ReadAll(resp.Body)
				if tc.clean && err != nil {
					t.Errorf("client stream: %q, %v", rest, err)
				}
			}
			e := obs.next(t)
			if e.Error != tc.wantErr {
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
		t.Run(tc.name, func(t *testing.T) {
			up := newRawUpstream(t)
			gw, err := New(Options{ShutdownTimeout: tc.timeout, Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.url, Mode: ModePermissive}}})
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
			ur := up.next(t)
			io.WriteString(ur.c, sseHead+"Transfer-Encoding: chunked\r\n\r\n"+chunk("id: 1\ndata: {}\n\n"))
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
				io.WriteString(ur.c, chunk("id: 2\ndata: {}\n\n")+"0\r\n\r\n")
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
			_ = ur.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := ur.c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
				t.Errorf("the upstream connection is still open: %v", err)
			}
			waitLive(t, gw, 0)
		})
	}
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
			resp, err := http.Get(base + "/mcp")
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || string(b) != tc.wantBody {
				t.Fatalf("%d %q", resp.StatusCode, b)
			}
			if gw.relays.live.Load() != 0 {
				t.Fatal("relayed")
			}
		})
	}
}

// TestRelaySDKClient: the official go-sdk client's standalone GET stream is relayed and
// delivers a server notification.
func TestRelaySDKClient(t *testing.T) {
	srv := sdk.NewServer(&sdk.Implementation{Name: "upstream", Version: "1.0.0"}, nil)
	sdk.AddTool(srv, &sdk.Tool{Name: "one"}, func(context.Context, *sdk.CallToolRequest, struct{}) (*sdk.CallToolResult, any, error) {
		return &sdk.CallToolResult{}, nil, nil
	})
	up := httptest.NewServer(sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return srv }, nil))
	t.Cleanup(up.Close)
	gw, base := newGateway(t, Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Verifier: testVerifier(t), Scopes: []string{"mcp.tools"}}}})
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

// TestChunkDecoder: byte-at-a-time decoding, extensions, trailers and malformed input.
func TestChunkDecoder(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		done           bool
		bad            bool
	}{
		{"chunks and last chunk", "3\r\nabc\r\n1;x=y\r\nd\r\n0\r\n\r\n", "abcd", true, false},
		{"trailers", "2\r\nhi\r\n0\r\nA: b\r\nC: d\r\n\r\n", "hi", true, false},
		{"upper-case hex, no end yet", "A\r\n0123456789\r\n", "0123456789", false, false},
		{"bare LF after size", "3\nabc\r\n", "", false, true},
		{"no CRLF after data", "3\r\nabcX", "abc", false, true},
		{"not hex", "g\r\n", "", false, true},
		{"empty size", "\r\n", "", false, true},
		{"size overflow", "1000000000000000\r\n", "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []int{1, 2, len(tc.in)} {
				var d chunkDecoder
				var out []byte
				var done bool
				var err error
				for i := 0; i < len(tc.in) && err == nil && !done; i += step {
					out, done, err = d.decode([]byte(tc.in[i:min(i+step, len(tc.in))]), out)
				}
				if (err != nil) != tc.bad || done != tc.done || string(out) != tc.want {
					t.Fatalf("step %d: %q done=%v err=%v", step, out, done, err)
				}
			}
		})
	}
}
