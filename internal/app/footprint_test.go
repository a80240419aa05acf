package app_test

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/app"
	"github.com/mcpgate/mcpgate/internal/config"
)

// footprintJWKS is a public RSA key in a JWKS: the routes need an issuer to check tokens
// against, never a token.
const footprintJWKS = `{"keys":[{"kty":"RSA","kid":"k1","alg":"RS256","use":"sig","e":"AQAB","n":"` +
	"sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1WlUzewbgBHod5pcM9H95GQRV3JDXboIRROSBigeC5yjU1hGzHHyXss8UDprecbAYxknTcQkhslANGRUZmdTOQ5qTRsLAt6BTYuyvVRdhS8exSZEy_c4gs_7svlJJQ4H9_NxsiIoLwAEk7-Q3UXERGYw_75IDrGA84-lA_-Ct4eTlXHBIY2EaV7t7LjJaynVJCpkv4LKjTTAumiGUIuQhrNhZLuF_RJLqHpM2kgWFLU7-VTdL1VbC2tejvcI2BlMkEpk1BzBZI0KQB0GaDWFLN-aEAw3vRw" +
	`"}]}`

// footprintConfig is a configuration with n routes, each with JWT auth and a one-rule policy,
// as `go run ./cmd/footprint` starts it; with distinct, each route's condition names its own
// group (routes share nothing but the issuer).
func footprintConfig(t testing.TB, n int, distinct bool) *config.Config {
	t.Helper()
	var b strings.Builder
	b.WriteString("listen: 127.0.0.1:0\npublicURL: http://127.0.0.1:8080\nlog: {level: warn}\nadmin: {listen: \"off\"}\n")
	fmt.Fprintf(&b, "issuers:\n  - name: idp\n    issuer: https://issuer.footprint\n    jwks: '%s'\n    audiences: [http://127.0.0.1:8080]\n", footprintJWKS)
	b.WriteString("routes:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: r%d\n    path: /r%d/mcp\n    upstream: {url: \"http://127.0.0.1:9/mcp\"}\n    auth: {issuers: [idp]}\n", i, i)
		group := "eng"
		if distinct {
			group = fmt.Sprintf("eng-%d", i)
		}
		fmt.Fprintf(&b, "    policy:\n      rules:\n        - name: engineers\n          allow: '%q in user.groups'\n", group)
	}
	cfg, _, err := config.Parse("footprint.yaml", []byte(b.String()), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestStartupFootprint builds the application with 1,000 routes and bounds what it keeps
// (the heap after a collection) and what it allocates on the way (start-up garbage), per
// route. Memory, not time: allocation counts do not depend on how busy the machine is.
// Every route has a condition of its own (routes that share one share its programs, and
// cost less). The bounds are about twice what was measured (issue 21: 6.4 KB kept and
// 8.9 KB allocated per route), so that a change that doubles a route's cost fails here.
func TestStartupFootprint(t *testing.T) {
	const (
		routes       = 1000
		maxKept      = 12 << 10
		maxAllocated = 18 << 10
	)
	cfg := footprintConfig(t, routes, true)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	a, err := app.New(context.Background(), cfg, app.Options{AuditOut: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(a)
	a.Close()
	kept := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / routes
	allocated := int64(after.TotalAlloc-before.TotalAlloc) / routes
	t.Logf("%d routes: %d bytes kept and %d allocated per route (%.1f MB kept, %.1f MB allocated)",
		routes, kept, allocated, float64(kept*routes)/1e6, float64(allocated*routes)/1e6)
	if kept > maxKept {
		t.Errorf("each route keeps %d bytes, more than %d", kept, maxKept)
	}
	if allocated > maxAllocated {
		t.Errorf("each route allocates %d bytes to start, more than %d", allocated, maxAllocated)
	}
}
