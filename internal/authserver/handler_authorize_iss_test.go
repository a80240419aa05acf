package authserver

import (
	"net/http"
	"net/url"
	"testing"
)

// TestAuthorizationResponseIssuer: RFC 9207. The metadata advertises
// authorization_response_iss_parameter_supported, and every authorization response
// redirected to the client carries iss, success (code) and error (consent denied, an
// invalid request redirected to a valid redirect URI) alike.
func TestAuthorizationResponseIssuer(t *testing.T) {
	env := newTestEnv(t, nil)
	meta := env.metadata(t)
	if meta["authorization_response_iss_parameter_supported"] != true {
		t.Errorf("metadata authorization_response_iss_parameter_supported = %v, want true", meta["authorization_response_iss_parameter_supported"])
	}

	redirect := "http://127.0.0.1:5555/callback"
	client := env.register(redirect)
	denied := env.register(redirect) // consent is remembered per client: a second one to deny
	tests := []struct {
		name      string
		client    string
		approve   bool
		wantParam string
	}{
		{"code", client, true, "code"},
		{"consent denied", denied, false, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			loc := env.browser(redirect).signIn(env.authorizeURL(tt.client, redirect, newPKCE(), nil), "alice", testPassword, tt.approve)
			q := loc.Query()
			if q.Get(tt.wantParam) == "" {
				t.Fatalf("redirect %s has no %s", loc, tt.wantParam)
			}
			if got := q.Get("iss"); got != env.issuer {
				t.Errorf("iss = %q, want %q (redirect %s)", got, env.issuer, loc)
			}
			if q.Get("state") != "st-123" {
				t.Errorf("state = %q", q.Get("state"))
			}
		})
	}

	t.Run("error from /authorize", func(t *testing.T) {
		// An unsupported response_type is reported to the (valid) redirect URI.
		u := env.authorizeURL(client, redirect, newPKCE(), url.Values{"response_type": {"token"}})
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		resp, err := c.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || resp.StatusCode/100 != 3 {
			t.Fatalf("status %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if loc.Query().Get("error") == "" || loc.Query().Get("iss") != env.issuer {
			t.Errorf("error redirect %s: want error and iss=%s", loc, env.issuer)
		}
	})
}
