package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// sseUpstream sends a first event, waits for release (or the request to end), then sends
// a final event and ends the response.
func sseUpstream(t *testing.T, release <-chan struct{}) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Mcp-Session-Id", "s1")
		_, _ = io.WriteString(w, ": priming\nid: e1\nretry: 2500\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\n data: \"params\":{}}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		_, _ = io.WriteString(w, "id: e2\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func serveGateway(t *testing.T, opts Options) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	gw, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- gw.Serve(ctx, ln) }()
	t.Cleanup(func() { gw.kill(); cancel() })
	return "http://" + ln.Addr().String(), cancel, done
}

func TestStreamPassthroughAndShutdown(t *testing.T) {
	tests := []struct {
		name        string
		release     bool // the upstream finishes during the drain
		timeout     time.Duration
		wantFinal   bool
		wantServeOK bool
	}{
		{"in-flight stream drains", true, 5 * time.Second, true, true},
		{"drain bounded by the timeout", false, 300 * time.Millisecond, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			up := sseUpstream(t, release)
			base, stop, done := serveGateway(t, Options{ShutdownTimeout: tc.timeout, Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Mode: ModePermissive}}})
			req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`))
			req.Header.Set("Last-Event-ID", "e0")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.Header.Get("Mcp-Session-Id") != "s1" || resp.Header.Get("Content-Type") != "text/event-stream" {
				t.Fatalf("headers %v", resp.Header)
			}
			br := bufio.NewReader(resp.Body)
			// The first event arrives while the upstream is still working, byte for byte.
			want := ": priming\nid: e1\nretry: 2500\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\n data: \"params\":{}}\n\n"
			got := make([]byte, len(want))
			if _, err := io.ReadFull(br, got); err != nil || string(got) != want {
				t.Fatalf("first event %q, %v", got, err)
			}
			stop() // begin graceful shutdown with the stream open
			time.Sleep(100 * time.Millisecond)
			if tc.release {
				close(release)
			}
			rest, _ := io.ReadAll(br)
			if has := strings.Contains(string(rest), "id: e2"); has != tc.wantFinal {
				t.Errorf("final event delivered=%v, want %v (%q)", has, tc.wantFinal, rest)
			}
			select {
			case err := <-done:
				if (err == nil) != tc.wantServeOK {
					t.Errorf("Serve returned %v", err)
				}
				if !tc.wantServeOK && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Serve returned %v, want deadline exceeded", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Serve did not return")
			}
			if _, err := http.Post(base+"/mcp", "application/json", strings.NewReader("{}")); err == nil {
				t.Error("the gateway still accepts connections after shutdown")
			}
		})
	}
}

// TestIdleStreamSurvives: a GET stream idle for longer than any request timeout stays
// open and still delivers events.
func TestIdleStreamSurvives(t *testing.T) {
	release := make(chan struct{})
	up := sseUpstream(t, release)
	base, _, _ := serveGateway(t, Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Mode: ModePermissive, ResponseTimeout: 100 * time.Millisecond}}})
	req, _ := http.NewRequest(http.MethodGet, base+"/mcp", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	for range 6 { // the first event
		if _, err := br.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(400 * time.Millisecond) // idle: 4× the response timeout
	close(release)
	rest, _ := io.ReadAll(br)
	if !strings.Contains(string(rest), "id: e2") {
		t.Fatalf("after idling: %q", rest)
	}
}

// TestStreamIdleTimeout: with limits.streamIdleTimeout set, a silent stream is closed.
func TestStreamIdleTimeout(t *testing.T) {
	up := sseUpstream(t, make(chan struct{}))
	base, _, _ := serveGateway(t, Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Mode: ModePermissive, StreamIdleTimeout: 200 * time.Millisecond}}})
	start := time.Now()
	resp, err := http.Get(base + "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body) // ends when the gateway closes the idle stream
	if el := time.Since(start); el < 150*time.Millisecond || el > 3*time.Second || !strings.Contains(string(b), "id: e1") {
		t.Fatalf("stream ended after %v with %q", el, b)
	}
}

// TestKillEndsStreamsInAnyServer: when a shutdown gives up (kill), open upstream exchanges
// end whether the gateway runs its own listener (Serve: the requests' base context) or its
// Handler is mounted in another server (each exchange is tied to the kill itself).
func TestKillEndsStreamsInAnyServer(t *testing.T) {
	for _, own := range []bool{true, false} {
		t.Run(map[bool]string{true: "Serve", false: "Handler in another server"}[own], func(t *testing.T) {
			upEnded := make(chan struct{})
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, "id: e1\ndata: {}\n\n")
				w.(http.Flusher).Flush()
				<-r.Context().Done()
				close(upEnded)
			}))
			t.Cleanup(up.Close)
			opts := Options{Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Mode: ModePermissive}}}
			gw, err := New(opts)
			if err != nil {
				t.Fatal(err)
			}
			var base string
			if own {
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(context.Background())
				t.Cleanup(cancel)
				go func() { _ = gw.Serve(ctx, ln) }()
				base = "http://" + ln.Addr().String()
			} else {
				srv := httptest.NewServer(gw.Handler())
				t.Cleanup(srv.Close)
				base = srv.URL
			}
			resp, err := http.Post(base+"/mcp", "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			br := bufio.NewReader(resp.Body)
			if line, err := br.ReadString('\n'); err != nil || line != "id: e1\n" {
				t.Fatalf("first line %q, %v", line, err)
			}
			gw.kill()
			select {
			case <-upEnded:
			case <-time.After(5 * time.Second):
				t.Fatal("the upstream exchange was not cancelled by the kill")
			}
			done := make(chan struct{})
			go func() { _, _ = io.ReadAll(br); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("the client's stream did not end after the kill")
			}
		})
	}
}
