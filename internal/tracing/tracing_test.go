package tracing

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// Spans reach an OTLP/HTTP receiver on loopback, from the configured endpoint.
func TestExportsToOTLPReceiver(t *testing.T) {
	var mu sync.Mutex
	var got []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, r.URL.Path+" "+r.Header.Get("Content-Type")+" "+string(b))
		mu.Unlock()
	}))
	defer recv.Close()
	p, err := Start(context.Background(), Options{Enabled: true, Endpoint: recv.URL + "/v1/traces", ServiceName: "mcpgate-test"})
	if err != nil {
		t.Fatal(err)
	}
	_, span := p.Tracer("t").Start(context.Background(), "POST /weather/mcp")
	span.End()
	if err := p.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) == 0 || !strings.HasPrefix(got[0], "/v1/traces application/x-protobuf") ||
		!strings.Contains(got[0], "POST /weather/mcp") || !strings.Contains(got[0], "mcpgate-test") {
		t.Fatalf("the receiver got %q", got)
	}
}

func TestOffByDefault(t *testing.T) {
	p, err := Start(context.Background(), Options{})
	if p != nil || err != nil {
		t.Fatalf("Start(off) = %v, %v", p, err)
	}
}
