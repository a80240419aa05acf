package client

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/jsonlimit"
)

// TestServerJSONLimits: metadata, token and registration responses that are too deep, too
// many values or too large are errors naming the limit, not decoded (or silently cut).
func TestServerJSONLimits(t *testing.T) {
	deep := `{"issuer":"x","a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`
	wide := `{"access_token":"t","a":[` + strings.Repeat("0,", 200_000) + `0]}`
	huge := `{"access_token":"` + strings.Repeat("A", 2<<20) + `"}`
	for _, tc := range []struct {
		name, body, want string
	}{
		{"deep", deep, "nests deeper than 64 levels"},
		{"wide", wide, "more than 100000 values"},
		{"huge", huge, "more than 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if r.URL.Path == "/register" {
					w.WriteHeader(http.StatusCreated)
				}
				w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			c, err := New(Options{ServerURL: srv.URL + "/mcp", CacheDir: t.TempDir(), HTTPClient: srv.Client()})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			check := func(what string, err error) {
				t.Helper()
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: err %v, want one naming %q", what, err, tc.want)
				}
				if !errors.Is(err, jsonlimit.ErrLimit) && !errors.Is(err, jsonlimit.ErrTooLarge) {
					t.Errorf("%s: %v is not a jsonlimit error", what, err)
				}
			}
			var m ServerMetadata
			check("metadata", c.getJSON(ctx, srv.URL+"/.well-known/oauth-authorization-server", &m))
			_, err = c.tokenRequest(ctx, srv.URL+"/token", Registration{ClientID: "c"}, url.Values{"grant_type": {"refresh_token"}})
			check("token", err)
			_, err = c.dynamicRegister(ctx, &ServerMetadata{RegistrationEndpoint: srv.URL + "/register"}, "http://127.0.0.1:1/cb")
			check("registration", err)
		})
	}
}
