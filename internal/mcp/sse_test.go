package mcp

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestSSERoundTrip(t *testing.T) {
	tests := []struct {
		name, in, want string
		datas          []string
	}{
		{"simple", "data: {}\n\n", "data: {}\n\n", []string{"{}"}},
		{"id event retry comment", ": priming\nid: 7\nevent: message\nretry: 1500\ndata: a\n\n", ": priming\nid: 7\nevent: message\nretry: 1500\ndata: a\n\n", []string{"a"}},
		{"multi-line data", "data: line1\ndata: line2\n\n", "data: line1\ndata: line2\n\n", []string{"line1\nline2"}},
		{"crlf normalised", "id: 1\r\ndata: x\r\n\r\n", "id: 1\ndata: x\n\n", []string{"x"}},
		{"cr only", "id: 1\rdata: x\r\r", "id: 1\ndata: x\n\n", []string{"x"}},
		{"two events and stray blank", "data: 1\n\n\n\ndata: 2\n\n", "data: 1\n\ndata: 2\n\n", []string{"1", "2"}},
		{"no space after colon", "data:x\n\n", "data:x\n\n", []string{"x"}},
		{"incomplete tail", "data: 1\n\ndata: 2", "data: 1\n\ndata: 2\n", []string{"1", "2"}},
		{"empty data event (priming)", "id: 0\ndata:\n\n", "id: 0\ndata:\n\n", []string{""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewSSEReader(strings.NewReader(tc.in), 0)
			var out []byte
			var datas []string
			for {
				ev, err := r.Next()
				if len(ev.Lines) > 0 {
					out = ev.AppendTo(out)
					datas = append(datas, ev.Data())
				}
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if string(out) != tc.want {
				t.Errorf("got %q, want %q", out, tc.want)
			}
			if strings.Join(datas, "|") != strings.Join(tc.datas, "|") {
				t.Errorf("data %q, want %q", datas, tc.datas)
			}
		})
	}
}

func TestSSESetData(t *testing.T) {
	ev := Event{Lines: []string{"id: 3", "data: a", "data: b", "retry: 10"}}
	ev.SetData("x\ny")
	got := string(ev.AppendTo(nil))
	want := "id: 3\ndata: x\ndata: y\nretry: 10\n\n"
	if got != want {
		t.Fatalf("got %q want %q", got, want)
	}
	if v, _ := ev.Field("id"); v != "3" || ev.Type() != "message" {
		t.Fatalf("field id=%q type=%q", v, ev.Type())
	}
}

func TestSSETooLarge(t *testing.T) {
	r := NewSSEReader(strings.NewReader("data: "+strings.Repeat("x", 10000)+"\n\n"), 100)
	if _, err := r.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("err = %v", err)
	}
}

// TestSSENoReadAhead: Next returns an event as soon as its blank line arrived, without
// waiting for more input.
func TestSSENoReadAhead(t *testing.T) {
	pr, pw := io.Pipe()
	r := NewSSEReader(pr, 0)
	go pw.Write([]byte("data: first\n\n"))
	ev, err := r.Next()
	if err != nil || ev.Data() != "first" {
		t.Fatalf("ev=%v err=%v", ev, err)
	}
	pw.Close()
}
