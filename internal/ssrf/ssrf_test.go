package ssrf_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/ssrf"
)

func TestInternal(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1": true, "::1": true, "10.1.2.3": true, "192.168.0.1": true, "169.254.169.254": true,
		"100.64.0.1": true, "::ffff:127.0.0.1": true, "0.0.0.0": true, "8.8.8.8": false, "2001:4860:4860::8888": false,
	} {
		if got := ssrf.Internal(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Internal(%s) = %v, want %v", addr, got, want)
		}
	}
}

// A guarded client refuses loopback unless the allow-list names it, refuses hosts off
// the allow-list (redirects included), and needs https except for an allowed internal
// address.
func TestClient(t *testing.T) {
	var target *httptest.Server
	target = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/to-localhost":
			http.Redirect(w, r, strings.Replace(target.URL, "127.0.0.1", "localhost", 1)+"/ok", http.StatusFound)
		case "/to-self":
			http.Redirect(w, r, target.URL+"/ok", http.StatusFound)
		default:
			w.Write([]byte("ok"))
		}
	}))
	defer target.Close()
	for _, tc := range []struct {
		name  string
		o     ssrf.Options
		path  string
		block bool
	}{
		{"no allow-list: loopback refused", ssrf.Options{}, "/ok", true},
		{"allow-list without loopback", ssrf.Options{Hosts: []string{"auth.example.com"}}, "/ok", true},
		{"loopback listed", ssrf.Options{Hosts: []string{"127.0.0.1"}}, "/ok", false},
		{"loopback listed, redirect to the same host", ssrf.Options{Hosts: []string{"127.0.0.1"}}, "/to-self", false},
		{"loopback listed, redirect off the list", ssrf.Options{Hosts: []string{"127.0.0.1"}}, "/to-localhost", true},
		{"wildcard does not cover an IP", ssrf.Options{Hosts: []string{"*.0.0.1"}}, "/ok", true},
		{"development: everything", ssrf.Options{AllowPrivate: true}, "/ok", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Timeout = 5 * time.Second
			resp, err := ssrf.Client(tc.o).Get(target.URL + tc.path)
			if resp != nil {
				resp.Body.Close()
			}
			if tc.block != (err != nil) {
				t.Fatalf("err = %v, want blocked %v", err, tc.block)
			}
			if tc.block && !errors.Is(err, ssrf.ErrBlocked) {
				t.Fatalf("err = %v, want ErrBlocked", err)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	for _, tc := range []struct {
		hosts []string
		raw   string
		ok    bool
	}{
		{nil, "https://as.example/x", true},
		{nil, "http://as.example/x", false},
		{[]string{"as.example"}, "https://as.example/x", true},
		{[]string{"as.example"}, "https://other.example/x", false},
		{[]string{"*.example.com"}, "https://auth.example.com/x", true},
		{[]string{"*.example.com"}, "https://example.com.evil.test/x", false},
		{[]string{"127.0.0.1"}, "http://127.0.0.1:8080/x", true},
		{[]string{"localhost"}, "http://localhost:8080/x", true},
		{[]string{"as.example"}, "http://as.example/x", false},
	} {
		u, _ := url.Parse(tc.raw)
		if err := ssrf.CheckURL(ssrf.Options{Hosts: tc.hosts}, u); (err == nil) != tc.ok {
			t.Errorf("CheckURL(%v, %s) = %v, want ok %v", tc.hosts, tc.raw, err, tc.ok)
		}
	}
}
