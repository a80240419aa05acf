package upstream

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/store"
)

// Admin provisioning: a connection offered to some groups only is neither shown to nor
// linkable by others, whose requests are told it is not offered to them; a connection
// required of a group prompts its users on every request (not deferred), and the
// connections page marks it.
func TestConnectionProvisioning(t *testing.T) {
	groups := map[string][]string{"alice": {"eng"}, "bob": {"sales"}, "carol": {"eng", "ops"}}
	var base string
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	base = srv.URL + "/connections"
	cs, err := NewConnections(ConnectionsConfig{
		Apps: []OAuthApp{
			{Name: "tickets", DisplayName: "Tickets", AuthorizeURL: "https://tickets.example/authorize", TokenURL: "https://tickets.example/token", ClientID: "c",
				OfferTo: []string{"eng"}, RequiredFor: []string{"ops"}},
			{Name: "wiki", DisplayName: "Wiki", AuthorizeURL: "https://wiki.example/authorize", TokenURL: "https://wiki.example/token", ClientID: "c"},
		},
		Store: store.NewMemory(), Keys: newKeyring(t, "k1"), BaseURL: base, CurrentUser: currentUserFromCookie,
		UserGroups: func(_ *http.Request, sub string) []string { return groups[sub] }, Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	h = cs.Handler()
	p, _ := cs.Provider("tickets")
	for _, tc := range []struct {
		user     string
		reason   string
		required bool
		deferred bool
	}{
		{"alice", "connection_missing", false, true},
		{"bob", ReasonNotOffered, false, false},
		{"carol", "connection_missing", true, false},
	} {
		t.Run(tc.user, func(t *testing.T) {
			req := Request{Principal: &authn.Principal{Subject: tc.user, Groups: groups[tc.user]}, Route: "r"}
			_, err := p.Credential(context.Background(), req)
			if Reason(err) != tc.reason {
				t.Fatalf("err = %v, want %s", err, tc.reason)
			}
			var nua *NeedsUserAction
			if errors.As(err, &nua) && (nua.Required != tc.required || tc.required && !strings.Contains(nua.Message, "your administrator requires your Tickets account to be connected")) {
				t.Fatalf("prompt = %+v", nua)
			}
			rc := CredentialErrors("r", RouteCredentials{Provider: p, Route: "r"}, "")
			_, gerr := rc.UpstreamHeaders(context.Background(), req.Principal, &http.Request{Header: http.Header{}})
			var d gateway.CredentialDeferrer
			if !errors.As(gerr, &d) || d.DeferCredential() != tc.deferred {
				t.Fatalf("deferred = %v, want %v", d != nil && d.DeferCredential(), tc.deferred)
			}
		})
	}

	page := func(user, path string) (int, string) {
		b := browser(t)
		u, _ := url.Parse(base)
		b.Jar.SetCookies(u, []*http.Cookie{{Name: "test_user", Value: user, Path: "/"}})
		resp, body := get(t, b, base+path)
		return resp.StatusCode, body
	}
	if _, body := page("bob", "/"); strings.Contains(body, "Tickets") || !strings.Contains(body, "Wiki") {
		t.Errorf("bob's connections page:\n%s", body)
	}
	if status, body := page("bob", "/tickets/connect"); status != http.StatusForbidden || !strings.Contains(body, "not offered to you") {
		t.Errorf("bob's connect page: %d\n%s", status, body)
	}
	if _, body := page("carol", "/"); !strings.Contains(body, "Required by your administrator") {
		t.Errorf("carol's connections page:\n%s", body)
	}
	if _, body := page("alice", "/"); !strings.Contains(body, "Tickets") || strings.Contains(body, "Required by your administrator") {
		t.Errorf("alice's connections page:\n%s", body)
	}
}
