package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestHealthEndpoints(t *testing.T) {
	storeDown := errors.New("dial tcp 127.0.0.1:5432: connection refused")
	var storeErr error
	s := New(Options{
		Checks: []Check{
			{Name: "store", Run: func(context.Context) error { return storeErr }},
			{Name: "signing_keys", Run: func(context.Context) error { return nil }},
			{Name: "slow", Run: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		},
		CheckTimeout: 200 * time.Millisecond,
		Metrics:      http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("# metrics\n")) }),
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + ln.Addr().String()
	get := func(path string) (int, map[string]any, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		var v map[string]any
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		_ = json.Unmarshal([]byte(b.String()), &v)
		return resp.StatusCode, v, b.String()
	}
	if code, _, _ := get("/livez"); code != 200 {
		t.Fatalf("/livez = %d", code)
	}
	if code, _, body := get("/metrics"); code != 200 || body != "# metrics\n" {
		t.Fatalf("/metrics = %d %q", code, body)
	}
	if code, _, _ := get("/debug/pprof/"); code != 404 {
		t.Fatalf("pprof served without being enabled: %d", code)
	}
	code, v, body := get("/readyz")
	if code != 503 || v["status"] != "not ready" || !strings.Contains(body, `"name":"slow","ok":false,"error":"no answer within 200ms"`) {
		t.Fatalf("/readyz with a hanging check = %d %s", code, body)
	}

	s.opts.Checks = s.opts.Checks[:2] // without the hanging check
	storeErr = storeDown
	code, _, body = get("/readyz")
	if code != 503 || !strings.Contains(body, `"name":"store","ok":false,"error":"dial tcp 127.0.0.1:5432: connection refused"`) ||
		!strings.Contains(body, `"name":"signing_keys","ok":true`) {
		t.Fatalf("/readyz with the store down = %d %s", code, body)
	}
	storeErr = nil
	if code, v, body := get("/readyz"); code != 200 || v["status"] != "ready" {
		t.Fatalf("/readyz recovered = %d %s", code, body)
	}
	s.Drain()
	if code, v, body := get("/readyz"); code != 503 || v["status"] != "draining" {
		t.Fatalf("/readyz draining = %d %s", code, body)
	}
	if code, _, _ := get("/livez"); code != 200 {
		t.Fatalf("/livez while draining = %d", code)
	}
}

func TestPprofWhenEnabled(t *testing.T) {
	s := New(Options{Pprof: true})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	go s.Serve(ctx, ln)
	defer cancel()
	resp, err := http.Get("http://" + ln.Addr().String() + "/debug/pprof/heap?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("pprof heap = %d", resp.StatusCode)
	}
}
