package clip

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestString(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"short", "client-1", "client-1"},
		{"exactly max", strings.Repeat("a", Max), strings.Repeat("a", Max)},
		{"one over", strings.Repeat("a", Max+1), strings.Repeat("a", Max) + "…"},
		{"long", strings.Repeat("b", 1<<20), strings.Repeat("b", Max) + "…"},
		{"multibyte under max runes", strings.Repeat("é", Max), strings.Repeat("é", Max)},
		{"multibyte over", strings.Repeat("é", Max+5), strings.Repeat("é", Max) + "…"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := String(tc.in)
			if got != tc.want {
				t.Fatalf("String(%d bytes) = %d bytes %q…, want %d bytes", len(tc.in), len(got), got[:min(len(got), 20)], len(tc.want))
			}
			if utf8.ValidString(tc.in) && !utf8.ValidString(got) {
				t.Fatalf("cut inside a rune: %q", got)
			}
		})
	}
}

func TestStrings(t *testing.T) {
	in := make([]string, 20)
	for i := range in {
		in[i] = strings.Repeat("x", 200)
	}
	out := Strings(in)
	if len(out) != 9 || out[8] != "…" || out[0] != strings.Repeat("x", Max)+"…" {
		t.Fatalf("Strings: %d elements, first %d bytes", len(out), len(out[0]))
	}
	if Strings(nil) != nil {
		t.Fatal("Strings(nil) != nil")
	}
}

func FuzzString(f *testing.F) {
	f.Add("abc")
	f.Add(strings.Repeat("é", 200))
	f.Add("\xff\xfe" + strings.Repeat("z", 300))
	f.Fuzz(func(t *testing.T, s string) {
		got := String(s)
		if utf8.RuneCountInString(s) <= Max {
			if got != s {
				t.Fatalf("changed a short value")
			}
			return
		}
		if !strings.HasSuffix(got, "…") || !strings.HasPrefix(s, strings.TrimSuffix(got, "…")) {
			t.Fatalf("not a prefix plus ellipsis")
		}
		if n := utf8.RuneCountInString(strings.TrimSuffix(got, "…")); n != Max {
			t.Fatalf("kept %d runes, want %d", n, Max)
		}
	})
}
