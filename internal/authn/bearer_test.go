package authn

import "testing"

// The forms every caller accepts (gateway, upstream, the Entra emulator's Graph endpoint,
// the demo): the strictest reading of RFC 6750 §2.1. Before issue 22 the gateway and
// upstream also accepted several spaces (and trimmed the token), the emulator accepted
// only "Bearer" and "bearer", and the demo kept a leading space in the token.
func TestBearerToken(t *testing.T) {
	tests := []struct {
		header, token string
		ok            bool
	}{
		{"Bearer abc.def", "abc.def", true},
		{"bearer abc", "abc", true},
		{"BEARER abc", "abc", true},
		{"bEaReR abc", "abc", true},
		{"", "", false},
		{"Bearer", "", false},
		{"Bearer ", "", false},
		{"Bearer  abc", "", false}, // two spaces
		{"Bearer\tabc", "", false},
		{"Bearer abc def", "", false},
		{"Bearer abc ", "", false},
		{"Basic YTpi", "", false},
		{"Bearerabc", "", false},
		{"Bearer-x abc", "", false},
		{" Bearer abc", "", false},
	}
	for _, tt := range tests {
		tok, ok := BearerToken(tt.header)
		if tok != tt.token || ok != tt.ok {
			t.Errorf("BearerToken(%q) = %q, %v; want %q, %v", tt.header, tok, ok, tt.token, tt.ok)
		}
	}
}
