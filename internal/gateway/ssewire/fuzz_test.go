package ssewire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http/httputil"
	"testing"

	"github.com/mcpgate/mcpgate/internal/mcp"
)

// FuzzChunkDecoder checks the incremental chunked decoder: it never panics, a
// split of the input anywhere gives the same payload, end and error as the whole input,
// and a payload chunked by net/http's own writer decodes back to itself. The seed corpus
// is under testdata/fuzz/FuzzChunkDecoder.
func FuzzChunkDecoder(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), []byte("payload"), uint(3))
	f.Add([]byte("3;ext=1\r\nabc\r\n0\r\nTrailer: x\r\n\r\n"), []byte(""), uint(0))
	f.Add([]byte("5\nhello\n0\n\n"), []byte("data: {}\n\n"), uint(1))
	f.Fuzz(func(t *testing.T, in, payload []byte, split uint) {
		whole, wdone, werr := (&ChunkDecoder{}).Decode(in, nil)
		k := int(split % uint(len(in)+1))
		d := &ChunkDecoder{}
		parts, pdone, perr := d.Decode(in[:k], nil)
		if perr == nil && !pdone {
			parts, pdone, perr = d.Decode(in[k:], parts)
		}
		if (werr == nil) != (perr == nil) || wdone != pdone || (werr == nil && !bytes.Equal(whole, parts)) {
			t.Fatalf("split at %d: whole %q %v %v, in two %q %v %v", k, whole, wdone, werr, parts, pdone, perr)
		}

		var enc bytes.Buffer
		w := httputil.NewChunkedWriter(&enc)
		if len(payload) > 0 {
			h := len(payload) / 2
			_, _ = w.Write(payload[:h])
			_, _ = w.Write(payload[h:])
		}
		_ = w.Close()
		enc.WriteString("\r\n") // no trailers
		b := enc.Bytes()
		k = int(split % uint(len(b)+1))
		d = &ChunkDecoder{}
		out, done, err := d.Decode(b[:k], nil)
		if err == nil && !done {
			out, done, err = d.Decode(b[k:], out)
		}
		if err != nil || !done || !bytes.Equal(out, payload) {
			t.Fatalf("%q split at %d decoded to %q %v %v; want %q", b, k, out, done, err, payload)
		}
	})
}

// FuzzSSEScanner checks that the event scanner cuts a stream where mcp's
// SSEReader (the normal path) does: each scanned event, parsed on its own as the relay
// does, gives the events that reading the whole stream gives, in order, however the
// bytes arrive. The seed corpus is under testdata/fuzz/FuzzSSEScanner.
func FuzzSSEScanner(f *testing.F) {
	f.Add([]byte("id: 1\ndata: {\"a\":1}\n\n: ping\n\ndata: x"), uint(7))
	f.Add([]byte("data: a\r\n\r\ndata: b\r\rdata: c\n\r\n\n\n"), uint(12))
	f.Fuzz(func(t *testing.T, in []byte, split uint) {
		var want []byte
		r := mcp.NewSSEReader(bytes.NewReader(in), 0)
		for {
			ev, err := r.Next()
			if len(ev.Lines) > 0 {
				want = ev.AppendTo(want)
			}
			if err != nil {
				break
			}
		}

		k := int(split % uint(len(in)+1))
		var s Scanner
		var raws [][]byte
		var err error
		for _, p := range [][]byte{in[:k], in[k:]} {
			if raws, err = s.Feed(p, raws); err != nil {
				t.Fatalf("feed: %v", err)
			}
		}
		if s.Partial() {
			raws = append(raws, s.Take())
		}
		var got []byte
		for _, raw := range raws {
			ev, rerr := mcp.NewSSEReader(bufio.NewReader(bytes.NewReader(raw)), 0).Next()
			if rerr != nil && !errors.Is(rerr, io.EOF) {
				continue
			}
			if len(ev.Lines) > 0 {
				got = ev.AppendTo(got)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("split at %d of %q:\nscanner %q\nreader  %q", k, in, got, want)
		}
	})
}
