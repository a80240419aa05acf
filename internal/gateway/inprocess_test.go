package gateway

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/authn"
)

// A route served by RouteOptions.Handler: the handler gets the caller, its SSE events
// reach the client one by one as written, and a handler that panics is a 502.
func TestInProcessHandler(t *testing.T) {
	release := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := CallerFromContext(r.Context())
		if !ok || c.Principal == nil || c.Principal.Subject != "alice" || c.Request.Header.Get("Authorization") != "Bearer alice" {
			http.Error(w, "no caller", http.StatusInternalServerError)
			return
		}
		if r.Header.Get("Authorization") != "" {
			http.Error(w, "the caller's token reached the upstream", http.StatusInternalServerError)
			return
		}
		if strings.Contains(r.URL.RawQuery, "panic") {
			panic("boom")
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\n\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n")
	})
	verifier := authn.VerifierFunc(func(ctx context.Context, token string) (*authn.Principal, error) {
		return &authn.Principal{Issuer: "https://idp.test", Subject: token}, nil
	})
	gw, err := New(Options{Routes: []RouteOptions{{Name: "local", Path: "/mcp", Handler: h, Verifier: verifier}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	defer srv.Close()

	post := func(query string) *http.Response {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/mcp"+query, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`))
		req.Header.Set("Authorization", "Bearer alice")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	resp := post("")
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "data:") {
				lines <- sc.Text()
			}
		}
		close(lines)
	}()
	select {
	case l := <-lines:
		if !strings.Contains(l, "notifications/progress") {
			t.Errorf("first event %q", l)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first event did not arrive before the handler finished")
	}
	close(release)
	if l := <-lines; !strings.Contains(l, `"result"`) {
		t.Errorf("second event %q", l)
	}

	bad := post("?panic=1")
	defer bad.Body.Close()
	if bad.StatusCode != http.StatusBadGateway {
		t.Errorf("panicking handler: status %d, want 502", bad.StatusCode)
	}
}
