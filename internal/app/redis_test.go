package app_test

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/testutil"
)

// TestReplicasShareRateLimitThroughRedis: two `mcpgate serve` replicas with the same
// store.redis admit, together, exactly the route's limit; without Redis each would admit
// its own.
func TestReplicasShareRateLimitThroughRedis(t *testing.T) {
	addr := testutil.RedisAddr(t)
	up := upstream(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	route := "shared-" + hex.EncodeToString(b[:]) // a bucket of its own in a Redis other runs share
	cfg := `
listen: $ADDR
publicURL: http://$ADDR
store: {memory: {}, redis: {addr: "` + addr + `"}}
log: {level: error}
routes:
  - name: ` + route + `
    path: /weather/mcp
    upstream: {url: ` + up + `}
    auth: {mode: permissive}
    rateLimit: {perRoute: {requests: 5, per: 1h}}
`
	replicas := []string{serve(t, cfg, nil), serve(t, cfg, nil)}
	ok, limited := 0, 0
	for i := range 12 {
		base := replicas[i%2]
		req, _ := http.NewRequest(http.MethodPost, base+"/weather/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
			if resp.Header.Get("Retry-After") == "" {
				t.Fatal("429 without Retry-After")
			}
		default:
			t.Fatalf("request %d on replica %d: status %d", i, i%2, resp.StatusCode)
		}
	}
	if ok != 5 || limited != 7 {
		t.Fatalf("admitted %d and limited %d of 12 across two replicas; want 5 and 7 (one shared bucket of 5)", ok, limited)
	}
}
