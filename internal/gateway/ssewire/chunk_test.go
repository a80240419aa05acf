package ssewire

import "testing"

// TestChunkDecoder: byte-at-a-time decoding, extensions, trailers and malformed input.
func TestChunkDecoder(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		done           bool
		bad            bool
	}{
		{"chunks and last chunk", "3\r\nabc\r\n1;x=y\r\nd\r\n0\r\n\r\n", "abcd", true, false},
		{"trailers", "2\r\nhi\r\n0\r\nA: b\r\nC: d\r\n\r\n", "hi", true, false},
		{"upper-case hex, no end yet", "A\r\n0123456789\r\n", "0123456789", false, false},
		{"bare LF after size", "3\nabc\r\n", "", false, true},
		{"no CRLF after data", "3\r\nabcX", "abc", false, true},
		{"not hex", "g\r\n", "", false, true},
		{"empty size", "\r\n", "", false, true},
		{"size overflow", "1000000000000000\r\n", "", false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, step := range []int{1, 2, len(tc.in)} {
				var d ChunkDecoder
				var out []byte
				var done bool
				var err error
				for i := 0; i < len(tc.in) && err == nil && !done; i += step {
					out, done, err = d.Decode([]byte(tc.in[i:min(i+step, len(tc.in))]), out)
				}
				if (err != nil) != tc.bad || done != tc.done || string(out) != tc.want {
					t.Fatalf("step %d: %q done=%v err=%v", step, out, done, err)
				}
			}
		})
	}
}
