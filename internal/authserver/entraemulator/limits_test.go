package entraemulator

import (
	"net/url"
	"strings"
	"testing"
)

// TestBoundedRequests: a multi-megabyte form to the token and device code endpoints is
// refused with 413 invalid_request naming the limit; long values are echoed clipped.
func TestBoundedRequests(t *testing.T) {
	e := newEnv(t)
	big := url.Values{"grant_type": {"client_credentials"}, "client_id": {strings.Repeat("A", 3<<20)}}
	for _, path := range []string{"/" + contosoID + "/oauth2/v2.0/token", "/" + contosoID + "/oauth2/v2.0/devicecode"} {
		status, m := e.post(t, path, big)
		if status != 413 || m["error"] != "invalid_request" || !strings.Contains(str(m, "error_description"), "64 KiB") {
			t.Errorf("%s: %d %v", path, status, m["error_description"])
		}
	}
	long := strings.Repeat("s", 5000)
	status, m := e.post(t, "/"+contosoID+"/oauth2/v2.0/token", e.secretForm(daemonID, daemonSecret, "grant_type", "client_credentials", "scope", long))
	if status != 400 || strings.Contains(str(m, "error_description"), long[:200]) || !strings.Contains(str(m, "error_description"), "…") {
		t.Fatalf("long scope: %d %.300v", status, m["error_description"])
	}
}
