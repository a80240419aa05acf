package authserver

import (
	"net/url"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/mcpgate/mcpgate/internal/store"
)

// redirectAccepted is the server's whole decision on an authorization request's
// redirect_uri: op's check (ValidateAuthReqRedirectURI, with our opClient), then ours in
// CreateAuthRequest.
func redirectAccepted(c store.Client, uri string) bool {
	return op.ValidateAuthReqRedirectURI(&opClient{c: c}, uri, oidc.ResponseTypeCode) == nil && redirectURIAllowed(c, uri)
}

// FuzzRedirectURIMatch: for any registered redirect URI that registration accepts and any
// requested one, the requested URI is accepted only when it is the registered one exactly
// or, for a public client, the same loopback http URI on another port: never with a
// fragment, userinfo, or another scheme, host, path or query.
func FuzzRedirectURIMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"https://app.example.com/cb", "https://app.example.com/cb"},
		{"https://app.example.com/cb", "https://app.example.com:444/cb"},
		{"https://app.example.com/cb", "https://APP.example.com/cb"},
		{"http://127.0.0.1:5555/cb", "http://127.0.0.1:61234/cb"},
		{"http://127.0.0.1/cb", "http://127.0.0.1:1/cb"},
		{"http://127.0.0.1:5555/cb", "https://127.0.0.1:5555/cb"},
		{"http://127.0.0.1:5555/cb", "http://localhost:5555/cb"},
		{"http://127.0.0.1:5555/cb", "http://127.0.0.2:5555/cb"},
		{"http://127.0.0.1:5555/cb", "http://[::1]:5555/cb"},
		{"http://[::1]:5555/cb", "http://[::1]:1/cb"},
		{"http://[::1]:5555/cb", "http://[0:0:0:0:0:0:0:1]:1/cb"},
		{"http://localhost:5555/cb", "http://localhost:6/cb"},
		{"http://127.0.0.1:5555/cb", "http://127.0.0.1:1/cb#frag"},
		{"http://127.0.0.1:5555/cb", "http://127.0.0.1:1/cb#"},
		{"http://127.0.0.1:5555/cb", "http://user:pw@127.0.0.1:1/cb"},
		{"http://127.0.0.1:5555/cb", "http://127.0.0.1:1@evil.example/cb"},
		{"http://127.0.0.1:5555/cb", "http://127.0.0.1:1/cb?x=1"},
		{"http://127.0.0.1:5555/cb?a=1", "http://127.0.0.1:1/cb?a=1"},
		{"http://127.0.0.1:5555/cb", "http://127.0.0.1:1/%63b"},
		{"http://127.0.0.1:5555/cb", "http://127.0.0.1:1/cb/"},
		{"http://127.0.0.1:5555/cb", "http://127.0.0.1:99999999999999999999/cb"},
		{"http://127.0.0.1:5555/cb", "http://127.0.0.1:/cb"},
		{"http://127.0.0.1:5555/cb", "http:\\\\127.0.0.1:1/cb"},
		{"http://127.0.0.1:5555/cb", "http://127.0.0.1:1/cb\xff"},
		{"http://127.0.0.1:5555/cb", "HTTP://127.0.0.1:1/cb"},
		{"http://127.0.0.1:5555/cb", "http://127.1:1/cb"},
		{"http://127.0.0.1:5555/cb", "http://127.0.0.1%2f:1/cb"},
	} {
		f.Add(s[0], s[1], true)
		f.Add(s[0], s[1], false)
	}
	f.Fuzz(func(t *testing.T, registered, requested string, public bool) {
		if validateRedirectURI(registered, nil) != nil {
			return
		}
		c := store.Client{ID: "c", RedirectURIs: []string{registered}}
		if !public {
			c.SecretHash = "h"
		}
		ok := redirectAccepted(c, requested)
		if requested == registered {
			if !ok {
				t.Fatalf("the registered redirect URI %q is refused", registered)
			}
			return
		}
		if !ok {
			return
		}
		fail := func(why string) {
			t.Fatalf("requested %q matched registered %q (public %v): %s", requested, registered, public, why)
		}
		if strings.Contains(requested, "#") {
			fail("a fragment")
		}
		reg, _ := url.Parse(registered)
		if !public || !isLoopbackHost(reg.Hostname()) {
			fail("a non-loopback (or confidential client's) redirect URI matches only exactly")
		}
		u, err := url.Parse(requested)
		if err != nil {
			fail("it does not parse")
		}
		switch {
		case u.User != nil || strings.Contains(requested, "@"):
			fail("userinfo")
		case u.Scheme != reg.Scheme || !strings.HasPrefix(requested, reg.Scheme+"://"):
			fail("another scheme")
		case u.Hostname() != reg.Hostname():
			fail("another host")
		case u.EscapedPath() != reg.EscapedPath() || u.RawQuery != reg.RawQuery || u.ForceQuery != reg.ForceQuery:
			fail("another path or query")
		}
		u.Host = reg.Host
		if u.String() != registered {
			fail("not the same URI on another port")
		}
	})
}
