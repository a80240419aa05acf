package jsonlimit

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	deep := func(open, close string, n int) string { return strings.Repeat(open, n) + strings.Repeat(close, n) }
	objs := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	mixed := func(n int) string { return strings.Repeat(`[{"a":`, n/2) + "1" + strings.Repeat("}]", n/2) }
	elems := func(n int) string { return "[" + strings.Repeat("0,", n-1) + "0]" }
	tests := []struct {
		name  string
		in    string
		l     Limits
		limit string // "" = accepted
	}{
		{"empty", "", Limits{}, ""},
		{"scalar", `"x"`, Limits{}, ""},
		{"message", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"q":[1,2,{"b":null}]}}}`, Limits{}, ""},
		{"arrays at the limit", deep("[", "]", 64), Limits{}, ""},
		{"arrays over the limit", deep("[", "]", 65), Limits{}, "depth"},
		{"objects at the limit", objs(64), Limits{}, ""},
		{"objects over the limit", objs(65), Limits{}, "depth"},
		{"mixed over the limit", mixed(66), Limits{}, "depth"},
		{"two million levels", deep("[", "]", 2_000_000), Limits{}, "depth"},
		{"unterminated depth", strings.Repeat("[", 1000), Limits{}, "depth"},
		{"brackets in strings do not count", `["` + strings.Repeat("[", 1000) + `"]`, Limits{}, ""},
		{"escaped quote keeps the string open", `["\"` + strings.Repeat("[", 1000) + `"]`, Limits{}, ""},
		{"escaped backslash ends the string", `["\\",` + deep("[", "]", 70) + `]`, Limits{}, "depth"},
		{"custom depth", deep("[", "]", 5), Limits{MaxDepth: 4}, "depth"},
		{"no depth limit", deep("[", "]", 5000), Limits{MaxDepth: -1}, ""},
		{"values at the limit", elems(99_999), Limits{}, ""},
		{"values over the limit", elems(100_000), Limits{}, "values"},
		{"members over a custom limit", `{"a":1,"b":2,"c":3}`, Limits{MaxValues: 3}, "values"},
		{"members at a custom limit", `{"a":1,"b":2}`, Limits{MaxValues: 3}, ""},
		{"empty containers are one value", `[[],{},[ ]]`, Limits{MaxValues: 4}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check([]byte(tc.in), tc.l)
			if tc.limit == "" {
				if err != nil {
					t.Fatalf("Check = %v, want nil", err)
				}
				return
			}
			var le *Error
			if !errors.As(err, &le) || le.Limit != tc.limit || !errors.Is(err, ErrLimit) {
				t.Fatalf("Check = %v, want a %q limit error", err, tc.limit)
			}
		})
	}
}

// The value count is an upper bound of what a decoder builds: never less than the real
// number of values.
func TestCheckCountsEveryValue(t *testing.T) {
	for _, in := range []string{`1`, `[1,2,3]`, `{"a":[1,{"b":2}],"c":"d"}`, `[[],[[]],{}]`, `[ 1 , [ 2 ] ]`} {
		var v any
		if err := json.Unmarshal([]byte(in), &v); err != nil {
			t.Fatal(err)
		}
		n := count(v)
		if err := Check([]byte(in), Limits{MaxValues: n}); err != nil {
			t.Errorf("%s: %d values refused at limit %d: %v", in, n, n, err)
		}
		if err := Check([]byte(in), Limits{MaxValues: n - 1}); n > 1 && err == nil {
			t.Errorf("%s: %d values accepted at limit %d", in, n, n-1)
		}
	}
}

func count(v any) int {
	n := 1
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			n += count(e)
		}
	case map[string]any:
		for _, e := range v {
			n += count(e)
		}
	}
	return n
}

func TestRead(t *testing.T) {
	if _, err := Read(strings.NewReader(`{"a":1}`), 7, Limits{}); err != nil {
		t.Fatalf("Read at the byte limit: %v", err)
	}
	if _, err := Read(strings.NewReader(`{"a":1} `), 7, Limits{}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Read over the byte limit = %v, want ErrTooLarge", err)
	}
	if _, err := Read(strings.NewReader(strings.Repeat("[", 100)), 1000, Limits{}); !errors.Is(err, ErrLimit) {
		t.Fatalf("Read of deep JSON = %v, want ErrLimit", err)
	}
	var v struct{ A int }
	if err := Decode(strings.NewReader(`{"A":3}`), 100, Limits{}, &v); err != nil || v.A != 3 {
		t.Fatalf("Decode = %v, %+v", err, v)
	}
}

// FuzzCheck: Check never panics, and what it accepts, encoding/json decodes within the
// limits (a document it accepts never nests deeper than MaxDepth).
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":"c\"]"}]}`, `[[[[[[[[`, `"\\"`, `]]]]`, `{"a":"\`, strings.Repeat("[", 70)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		l := Limits{MaxDepth: 8, MaxValues: 50}
		if Check(b, l) != nil {
			return
		}
		var v any
		if json.Unmarshal(b, &v) != nil {
			return
		}
		if d := depthOf(v); d > l.MaxDepth {
			t.Fatalf("accepted %q of depth %d", b, d)
		}
		if n := count(v); n > l.MaxValues {
			t.Fatalf("accepted %q with %d values", b, n)
		}
	})
}

func depthOf(v any) int {
	d := 0
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			d = max(d, depthOf(e))
		}
		return d + 1
	case map[string]any:
		for _, e := range v {
			d = max(d, depthOf(e))
		}
		return d + 1
	}
	return 0
}

func BenchmarkCheck(b *testing.B) {
	msg := []byte(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"get_forecast","arguments":{"city":"Paris","days":[1,2,3],"units":{"temp":"C"}}}}`)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if err := Check(msg, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}
