package ssewire

import (
	"errors"
	"strconv"
)

// ChunkHeadRoom is the room FrameChunk needs before a payload: a chunk-size line of up to
// 8 hex digits and CRLF.
const ChunkHeadRoom = 10

// FrameChunk turns b (ChunkHeadRoom reserved bytes, then the payload) into one HTTP/1.1
// chunk, in place.
func FrameChunk(b []byte) []byte {
	n := len(b) - ChunkHeadRoom
	var hx [16]byte
	h := strconv.AppendUint(hx[:0], uint64(n), 16)
	start := ChunkHeadRoom - len(h) - 2
	copy(b[start:], h)
	b[ChunkHeadRoom-2], b[ChunkHeadRoom-1] = '\r', '\n'
	return append(b[start:], '\r', '\n')
}

// ChunkDecoder decodes HTTP/1.1 chunked transfer coding incrementally, without a
// buffered reader. Chunk extensions and trailers are skipped; bare LF line ends are
// rejected, as net/http does.
type ChunkDecoder struct {
	state  uint8
	n      uint64 // chunk size being parsed, then bytes left in the chunk
	digits int
}

const (
	cdSize = iota
	cdExt
	cdSizeLF
	cdData
	cdDataCR
	cdDataLF
	cdTrailerStart
	cdTrailerLine
	cdTrailerLF
	cdFinalLF
	cdDone
)

// ErrChunked is returned for malformed chunked coding.
var ErrChunked = errors.New("malformed chunked encoding from the upstream")

// Decode appends the payload bytes in in to out; done is true after the last chunk.
func (d *ChunkDecoder) Decode(in, out []byte) (_ []byte, done bool, _ error) {
	for i := 0; i < len(in); i++ {
		c := in[i]
		switch d.state {
		case cdSize:
			switch {
			case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
				if d.digits == 15 {
					return out, false, ErrChunked
				}
				d.n = d.n<<4 | uint64(unhex(c))
				d.digits++
			case c == ';' || c == ' ' || c == '\t':
				if d.digits == 0 {
					return out, false, ErrChunked
				}
				d.state = cdExt
			case c == '\r':
				if d.digits == 0 {
					return out, false, ErrChunked
				}
				d.state = cdSizeLF
			default:
				return out, false, ErrChunked
			}
		case cdExt:
			if c == '\r' {
				d.state = cdSizeLF
			} else if c == '\n' {
				return out, false, ErrChunked
			}
		case cdSizeLF:
			if c != '\n' {
				return out, false, ErrChunked
			}
			d.digits = 0
			if d.n == 0 {
				d.state = cdTrailerStart
			} else {
				d.state = cdData
			}
		case cdData:
			k := min(uint64(len(in)-i), d.n)
			out = append(out, in[i:i+int(k)]...)
			d.n -= k
			i += int(k) - 1
			if d.n == 0 {
				d.state = cdDataCR
			}
		case cdDataCR:
			if c != '\r' {
				return out, false, ErrChunked
			}
			d.state = cdDataLF
		case cdDataLF:
			if c != '\n' {
				return out, false, ErrChunked
			}
			d.state = cdSize
		case cdTrailerStart:
			if c == '\r' {
				d.state = cdFinalLF
			} else {
				d.state = cdTrailerLine
			}
		case cdTrailerLine:
			if c == '\r' {
				d.state = cdTrailerLF
			}
		case cdTrailerLF:
			if c != '\n' {
				return out, false, ErrChunked
			}
			d.state = cdTrailerStart
		case cdFinalLF:
			if c != '\n' {
				return out, false, ErrChunked
			}
			d.state = cdDone
			return out, true, nil
		case cdDone:
			return out, true, nil
		}
	}
	return out, d.state == cdDone, nil
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}
