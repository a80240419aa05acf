package doctor_test

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/mcpgate/mcpgate/internal/doctor"
)

// TestCheckConfigIssuerCAFile: doctor fetches an issuer's keys as the gateway does, trusting
// the issuer's caFile (and failing without it).
func TestCheckConfigIssuerCAFile(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"keys":[{"kty":"RSA","kid":"k1","use":"sig","n":"sXch","e":"AQAB"}]}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600)
	for _, c := range []struct {
		name, caLine string
		want         doctor.Status
	}{{"with caFile", ", caFile: " + ca, doctor.StatusOK}, {"without caFile", "", doctor.StatusFail}} {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(t.TempDir(), "mcpgate.yaml")
			os.WriteFile(f, []byte("publicURL: https://mcp.example.com\nstore: {memory: {}}\nissuers:\n  - {name: corp, issuer: https://idp.internal.example, jwksURL: "+srv.URL+"/keys"+c.caLine+"}\n"+
				"routes:\n  - {name: r, path: /r/mcp, upstream: {url: http://127.0.0.1:9/mcp}, auth: {issuers: [corp]}}\n"), 0o600)
			r := doctor.CheckConfig(context.Background(), f, doctor.Options{})
			if s := r.Step("jwks/corp"); s == nil || s.Status != c.want {
				t.Fatalf("jwks/corp = %+v, want %s", s, c.want)
			}
		})
	}
}
