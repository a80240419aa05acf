package client

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkTransport measures what the signing Transport adds per request (cache read, header)
// over a plain http.Transport, against the same loopback server.
func BenchmarkTransport(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer at-bench" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}))
	defer srv.Close()
	body := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	run := func(b *testing.B, hc *http.Client, auth bool) {
		for b.Loop() {
			req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
			if auth {
				req.Header.Set("Authorization", "Bearer at-bench")
			}
			resp, err := hc.Do(req)
			if err != nil || resp.StatusCode != 200 {
				b.Fatalf("%v %v", err, resp)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	b.Run("baseline=plain-transport", func(b *testing.B) { run(b, &http.Client{}, true) })
	b.Run("mcpgate-transport", func(b *testing.B) {
		c, err := New(Options{ServerURL: srv.URL, CacheDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Cache().Save(&Entry{ServerURL: srv.URL, Token: Token{AccessToken: "at-bench", Expiry: time.Now().Add(time.Hour)}}); err != nil {
			b.Fatal(err)
		}
		run(b, c.HTTPClient(), false)
	})
}
