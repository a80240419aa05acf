package authn

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// FuzzVerify checks that no input makes Verify panic, accept a token it should not, or put
// an unsafe character or the token itself into a rejection's description.
func FuzzVerify(f *testing.F) {
	clk, k, v, _ := staticFixture(f, 0)
	good := k.sign(f, baseClaims(clk, "https://self.example.com"))
	f.Add(good)
	f.Add(good[:len(good)-3])
	f.Add(strings.Replace(good, ".", "..", 1))
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := v.Verify(context.Background(), tok)
		if err == nil {
			if tok != good {
				// Only a token signed by k can pass; the fuzzer cannot forge RS256.
				parts := strings.Split(tok, ".")
				gp := strings.Split(good, ".")
				if len(parts) != 3 || parts[2] != gp[2] {
					t.Fatalf("accepted a token that is not the signed one: %q", tok)
				}
			}
			if p == nil || p.Subject != "u" {
				t.Fatalf("accepted without a principal")
			}
			return
		}
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("technical error for a static issuer: %v", err)
		}
		for _, r := range e.Description {
			if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
				t.Fatalf("unsafe description %q", e.Description)
			}
		}
		if len(tok) > 30 && strings.Contains(e.Description, tok) {
			t.Fatalf("description echoes the token")
		}
	})
}
