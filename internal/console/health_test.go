package console

import (
	"context"
	"net"
	"testing"

	"github.com/mcpgate/mcpgate/internal/config"
)

// TestUpstreamHealth: a route is reachable when every upstream URL accepts a TCP
// connection, unreachable (naming which) otherwise; stdio upstreams are not probed; the
// result is reused for healthTTL.
func TestUpstreamHealth(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := closed.Addr().String()
	closed.Close()
	up := "http://" + ln.Addr().String() + "/mcp"
	cfg := &config.Config{Routes: []config.Route{
		{Name: "up", Upstream: config.Upstream{URL: up}},
		{Name: "down", Upstream: config.Upstream{URL: "http://" + dead + "/mcp"}},
		{Name: "mixed", Upstreams: []config.AggregatedUpstream{{Name: "a", URL: up}, {Name: "b", URL: "http://" + dead}}},
		{Name: "stdio", Upstreams: []config.AggregatedUpstream{{Name: "local", Command: "server"}}},
		{Name: "bad", Upstream: config.Upstream{URL: "::not a url"}},
	}}
	con := New(Options{Config: cfg})
	got := con.upstreamHealth(context.Background())
	tests := []struct{ route, text, class string }{
		{"up", "reachable", "ok"},
		{"down", "unreachable: (connection refused or no route)", "broken"},
		{"mixed", "unreachable: b (connection refused or no route)", "broken"},
		{"stdio", "local command (started per session)", "muted"},
		{"bad", "unreachable: (not a URL)", "broken"},
	}
	for _, tt := range tests {
		if h := got[tt.route]; h.Text != tt.text || h.Class != tt.class {
			t.Errorf("%s: %+v, want %q (%s)", tt.route, h, tt.text, tt.class)
		}
	}
	ln.Close()
	if again := con.upstreamHealth(context.Background()); again["up"].Text != "reachable" {
		t.Errorf("within the TTL the probe ran again: %+v", again["up"])
	}
}
