package client

import (
	"net/http"
	"strings"
	"testing"
)

// quote renders v as an RFC 9110 quoted-string.
func quote(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// qdtext reports whether v can be sent in a quoted-string (visible ASCII, space, tab).
func qdtext(v string) bool {
	for i := 0; i < len(v); i++ {
		if c := v[i]; c != '\t' && (c < 0x20 || c > 0x7e) {
			return false
		}
	}
	return true
}

// FuzzParseChallenge: no WWW-Authenticate header makes ParseChallenge panic, and a Bearer
// challenge written with properly quoted values, alone or after another challenge, reads
// back the same values.
func FuzzParseChallenge(f *testing.F) {
	for _, s := range []string{
		`Bearer resource_metadata="https://gw.example/.well-known/oauth-protected-resource/mcp", scope="a b", error="insufficient_scope", error_description="need \"a\""`,
		`Basic realm="x", Bearer error="invalid_token"`,
		`Bearer`, `Bearer `, `Bearer =`, `Bearer a`, `Bearer a=`, `Bearer a="`, `Bearer a="\`, `"Bearer"`, `,,,`, `Bearer a=b,,c=d`,
		`Bearer abc123==`, "Bearer a=\"\xff\"", `Bearer error="x\\", Basic realm="y"`,
	} {
		f.Add(s, "", "", "", "", "")
	}
	f.Add("", "https://gw.example/prm", "a b", "invalid_token", `say "hi" \ bye`, "")
	f.Add("", "x", "", "", `trailing \`, `realm`)
	f.Fuzz(func(t *testing.T, raw, rm, scope, code, desc, other string) {
		h := http.Header{}
		h.Add("WWW-Authenticate", raw)
		_ = ParseChallenge(h)
		for _, c := range parseChallenges([]string{raw}) {
			if c.scheme == "" || !isTokenString(c.scheme) {
				t.Fatalf("challenge scheme %q from %q", c.scheme, raw)
			}
		}
		if !qdtext(rm + scope + code + desc + other) {
			return
		}
		want := Challenge{ResourceMetadata: rm, Scope: scope, Error: code, Description: desc}
		bearer := "Bearer resource_metadata=" + quote(rm) + ", scope=" + quote(scope) + ", error=" + quote(code) + ", error_description=" + quote(desc)
		for _, hv := range [][]string{
			{bearer},
			{"Basic realm=" + quote(other), bearer},
			{"Basic realm=" + quote(other) + ", " + bearer},
			{raw, bearer}, // whatever another header value holds
		} {
			if hv[0] == raw && strings.Contains(strings.ToLower(raw), "bearer") {
				continue // raw may hold a Bearer challenge of its own, read first
			}
			h := http.Header{"Www-Authenticate": hv}
			if got := ParseChallenge(h); got != want {
				t.Fatalf("%q read as %+v, want %+v", hv, got, want)
			}
		}
	})
}

func isTokenString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isTchar(s[i]) {
			return false
		}
	}
	return s != ""
}

// WWW-Authenticate headers oauthex.ParseWWWAuthenticate misread (found by
// FuzzParseChallenge): an empty quoted value failed every challenge, and a value ending in
// an escaped backslash hid the challenges after it.
func TestParseChallengeEdgeCases(t *testing.T) {
	want := Challenge{ResourceMetadata: "https://gw.example/prm", Error: "invalid_token"}
	for _, hv := range [][]string{
		{`Bearer resource_metadata="https://gw.example/prm", scope="", error="invalid_token"`},
		{`Basic realm=""`, `Bearer resource_metadata="https://gw.example/prm", error="invalid_token"`},
		{`Basic realm="a\\", Bearer resource_metadata="https://gw.example/prm", error="invalid_token"`},
		{`Basic YWJj==, Bearer resource_metadata="https://gw.example/prm",error=invalid_token`},
		{`Negotiate, Bearer   resource_metadata = "https://gw.example/prm" , error="invalid_token", error="other"`},
		{`Bearer realm="x, y", resource_metadata="https://gw.example/prm", error="invalid_token"`},
		{`DPoP algs="ES256", Bearer resource_metadata="https://gw.example/prm", error="invalid_token"`},
		{`"oops", Bearer resource_metadata="https://gw.example/prm", error="invalid_token"`},
	} {
		if got := ParseChallenge(http.Header{"Www-Authenticate": hv}); got != want {
			t.Errorf("%q read as %+v", hv, got)
		}
	}
	if got := ParseChallenge(http.Header{"Www-Authenticate": {`Bearer error="unterminated`}}); got.Error != "unterminated" {
		t.Errorf("unterminated quoted-string: %+v", got)
	}
}
