package authserver

import (
	"net/http"
	"testing"
)

// Browser-based MCP clients (such as the MCP Inspector) call these cross-origin.
func TestCORSPreflight(t *testing.T) {
	env := newTestEnv(t, nil)
	for _, tc := range []struct{ path, method string }{
		{PathRegister, "POST"}, {PathToken, "POST"}, {PathOAuthMetadata, "GET"}, {PathJWKS, "GET"},
	} {
		req, _ := http.NewRequest(http.MethodOptions, env.issuer+tc.path, nil)
		req.Header.Set("Origin", "http://localhost:6274")
		req.Header.Set("Access-Control-Request-Method", tc.method)
		req.Header.Set("Access-Control-Request-Headers", "content-type")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 || resp.Header.Get("Access-Control-Allow-Origin") == "" {
			t.Errorf("%s preflight: %d, allow-origin %q", tc.path, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
		}
	}
}
