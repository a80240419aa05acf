package federation

import (
	"testing"
)

// FuzzParseUserinfo: any provider answer either is refused or yields an object with a
// non-empty string sub, and merging it into id_token claims never lets it replace a claim
// the id_token has.
func FuzzParseUserinfo(f *testing.F) {
	for _, s := range []string{`{"sub":"a","email":"a@example.org","groups":["x"]}`, `{"sub":""}`, `[]`, `null`, `{"sub":1}`,
		`{"sub":"a","x":[[[[{}]]]]}`, `{"sub":"a","sub":"b"}`, "{\"sub\":\"a\"}\n{\"sub\":\"b\"}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		claims, err := parseUserinfo(body)
		if err != nil {
			return
		}
		sub, _ := claims["sub"].(string)
		if sub == "" {
			t.Fatalf("accepted without sub: %q", body)
		}
		id := map[string]any{"sub": sub, "email": "id@example.org", "name": nil}
		m, err := mergeUserinfo(id, claims)
		if err != nil {
			t.Fatalf("same sub refused: %v", err)
		}
		if m["email"] != "id@example.org" || m["sub"] != sub {
			t.Fatalf("userinfo replaced an id_token claim: %v", m)
		}
		if _, err := mergeUserinfo(map[string]any{"sub": sub + "x"}, claims); err == nil {
			t.Fatal("another sub merged")
		}
	})
}
