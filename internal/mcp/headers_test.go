package mcp

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mcpgate/mcpgate/internal/jsonlimit"
)

const meta26 = `"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}`

func call26(tool string) string {
	return `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":` + quoteJSON(tool) + `,"arguments":{},` + meta26 + `}}`
}

func quoteJSON(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"', '\\':
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	b.WriteByte('"')
	return b.String()
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestCheckHeaders(t *testing.T) {
	v26 := []string{"Mcp-Protocol-Version", "2026-07-28"}
	with := func(kv ...string) http.Header { return hdr(append(append([]string{}, v26...), kv...)...) }
	tests := []struct {
		name   string
		h      http.Header
		body   string
		code   int    // 0: accepted
		reason string // HeaderError.Reason
		msg    string // part of the message
	}{
		{name: "2025-11-25 without headers", h: hdr("Mcp-Protocol-Version", "2025-11-25"),
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}`},
		{name: "2025-11-25 batch is left to the upstream", h: hdr("Mcp-Protocol-Version", "2025-11-25"),
			body: `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`},
		{name: "no version at all (initialize)", h: hdr(),
			body: `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}`},
		{name: "tools/call consistent", h: with("Mcp-Method", "tools/call", "Mcp-Name", "get_weather"), body: call26("get_weather")},
		{name: "tools/call name base64", h: with("Mcp-Method", "tools/call", "Mcp-Name", EncodeHeaderValue("météo")), body: call26("météo")},
		{name: "tools/call name raw UTF-8 (as the Go SDK sends it)", h: with("Mcp-Method", "tools/call", "Mcp-Name", "météo"), body: call26("météo")},
		{name: "server/discover", h: with("Mcp-Method", "server/discover"),
			body: `{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{` + meta26 + `}}`},
		{name: "resources/read uri", h: with("Mcp-Method", "resources/read", "Mcp-Name", "file:///a b"),
			body: `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"file:///a b",` + meta26 + `}}`},
		{name: "notification needs no _meta", h: with("Mcp-Method", "notifications/cancelled"),
			body: `{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}`},

		{name: "batch", h: with("Mcp-Method", "tools/call"), body: `[` + call26("a") + `]`,
			code: CodeInvalidRequest, reason: "batch_not_allowed", msg: "batches are not allowed"},
		{name: "batch marked only by _meta", h: hdr(), body: `[` + call26("a") + `,{"jsonrpc":"2.0","id":2,"method":"ping"}]`,
			code: CodeInvalidRequest, reason: "batch_not_allowed"},
		{name: "missing Mcp-Method", h: with("Mcp-Name", "a"), body: call26("a"),
			code: CodeHeaderMismatch, reason: "missing_header", msg: "Mcp-Method"},
		{name: "Mcp-Method mismatch", h: with("Mcp-Method", "tools/list", "Mcp-Name", "a"), body: call26("a"),
			code: CodeHeaderMismatch, reason: "header_mismatch", msg: `Mcp-Method header "tools/list" does not match the body's method "tools/call"`},
		{name: "missing Mcp-Name", h: with("Mcp-Method", "tools/call"), body: call26("a"),
			code: CodeHeaderMismatch, reason: "missing_header", msg: "Mcp-Name"},
		{name: "Mcp-Name mismatch", h: with("Mcp-Method", "tools/call", "Mcp-Name", "get_weather"), body: call26("admin_reset"),
			code: CodeHeaderMismatch, reason: "header_mismatch", msg: `Mcp-Name header "get_weather" does not match the body's params.name "admin_reset"`},
		{name: "Mcp-Name base64 mismatch", h: with("Mcp-Method", "tools/call", "Mcp-Name", EncodeHeaderValue("get_weather ")), body: call26("get_weather"),
			code: CodeHeaderMismatch, reason: "header_mismatch"},
		{name: "Mcp-Name bad base64", h: with("Mcp-Method", "tools/call", "Mcp-Name", "=?base64?***?="), body: call26("a"),
			code: CodeHeaderMismatch, reason: "header_mismatch", msg: "base64"},
		{name: "Mcp-Name twice", h: with("Mcp-Method", "tools/call", "Mcp-Name", "a", "Mcp-Name", "b"), body: call26("a"),
			code: CodeHeaderMismatch, reason: "duplicate_header"},
		{name: "Mcp-Method twice", h: with("Mcp-Method", "tools/call", "Mcp-Method", "tools/list", "Mcp-Name", "a"), body: call26("a"),
			code: CodeHeaderMismatch, reason: "duplicate_header"},
		{name: "Mcp-Name on tools/list", h: with("Mcp-Method", "tools/list", "Mcp-Name", "admin_reset"),
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{` + meta26 + `}}`,
			code: CodeHeaderMismatch, reason: "header_mismatch", msg: "names nothing"},
		{name: "tools/call name in uri only", h: with("Mcp-Method", "tools/call", "Mcp-Name", "x"),
			body: `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"uri":"x",` + meta26 + `}}`,
			code: CodeHeaderMismatch, reason: "header_mismatch"},
		{name: "_meta version without header", h: hdr("Mcp-Method", "tools/call", "Mcp-Name", "a"), body: call26("a"),
			code: CodeHeaderMismatch, reason: "missing_header", msg: "Mcp-Protocol-Version header is required"},
		{name: "_meta version with an older header", h: hdr("Mcp-Protocol-Version", "2025-11-25"), body: call26("a"),
			code: CodeHeaderMismatch, reason: "header_mismatch", msg: `"2025-11-25" does not match`},
		{name: "header 2026 without _meta", h: with("Mcp-Method", "tools/list"), body: `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`,
			code: CodeInvalidParams, reason: "missing_meta_version"},
		{name: "header and _meta differ", h: hdr("Mcp-Protocol-Version", "2026-12-01", "Mcp-Method", "tools/call", "Mcp-Name", "a"), body: call26("a"),
			code: CodeHeaderMismatch, reason: "header_mismatch"},
		{name: "version header twice", h: with("Mcp-Protocol-Version", "2025-11-25"), body: call26("a"),
			code: CodeHeaderMismatch, reason: "duplicate_header"},
		{name: "escaped _meta key is read", h: with("Mcp-Method", "ping"),
			body: `{"jsonrpc":"2.0","id":1,"method":"ping","params":{"\u005fmeta":{"io.modelcontextprotocol/protocolVersion":"2025-06-18"}}}`,
			code: CodeHeaderMismatch, reason: "header_mismatch"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msgs, batch, err := ParseRequest([]byte(tc.body), jsonlimit.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			e := CheckHeaders(tc.h, msgs, batch)
			if tc.code == 0 {
				if e != nil {
					t.Fatalf("refused: %v", e)
				}
				return
			}
			if e == nil {
				t.Fatal("accepted")
			}
			if e.Code != tc.code || e.Reason != tc.reason || !strings.Contains(e.Message, tc.msg) {
				t.Errorf("got %d %s %q, want %d %s containing %q", e.Code, e.Reason, e.Message, tc.code, tc.reason, tc.msg)
			}
		})
	}
}

func TestProtocolVersion(t *testing.T) {
	for _, tc := range []struct {
		h    http.Header
		body string
		want string
	}{
		{hdr("Mcp-Protocol-Version", "2025-06-18"), `{"jsonrpc":"2.0","id":1,"method":"ping"}`, "2025-06-18"},
		{hdr(), call26("a"), "2026-07-28"},
		{hdr(), `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25"}}`, "2025-11-25"},
		{hdr(), `{"jsonrpc":"2.0","id":1,"method":"ping"}`, ""},
	} {
		msgs, _, err := ParseRequest([]byte(tc.body), jsonlimit.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if got := ProtocolVersion(tc.h, msgs); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.body, got, tc.want)
		}
	}
}

func TestHeaderValueEncoding(t *testing.T) {
	for in, want := range map[string]string{
		"get_weather":     "get_weather",
		"":                "",
		"météo":           "=?base64?bcOpdMOpbw==?=",
		" lead":           "=?base64?IGxlYWQ=?=",
		"=?base64?eA==?=": "=?base64?PT9iYXNlNjQ/ZUE9PT89?=",
	} {
		if got := EncodeHeaderValue(in); got != want {
			t.Errorf("EncodeHeaderValue(%q) = %q, want %q", in, got, want)
		}
		if back, ok := DecodeHeaderValue(want); !ok || back != in {
			t.Errorf("DecodeHeaderValue(%q) = %q, %v", want, back, ok)
		}
	}
	if _, ok := DecodeHeaderValue("=?base64?!!?="); ok {
		t.Error("invalid base64 accepted")
	}
	if got, ok := DecodeHeaderValue("=?base64?abc"); !ok || got != "=?base64?abc" {
		t.Error("an unterminated wrapper is a plain value")
	}
}

func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// FuzzHeaderValue: every string survives encoding, the encoded form is printable ASCII
// with nothing net/http would trim, and decoding any value never panics; a tools/call
// whose Mcp-Name is accepted names the body's tool.
func FuzzHeaderValue(f *testing.F) {
	for _, s := range []string{"get_weather", "météo", " x ", "=?base64?eA==?=", "=?base64?", "a\x00b", "\xff"} {
		f.Add(s, EncodeHeaderValue(s))
	}
	f.Fuzz(func(t *testing.T, s, header string) {
		enc := EncodeHeaderValue(s)
		if !printableASCII(enc) || strings.TrimSpace(enc) != enc {
			t.Fatalf("EncodeHeaderValue(%q) = %q is not a clean header value", s, enc)
		}
		if back, ok := DecodeHeaderValue(enc); !ok || back != s {
			t.Fatalf("round trip of %q: %q, %v", s, back, ok)
		}
		DecodeHeaderValue(header)
		if !utf8.ValidString(s) || !printableASCII(header) || header == "" {
			return
		}
		msgs, _, err := ParseRequest([]byte(call26(s)), jsonlimit.Limits{})
		if err != nil {
			return
		}
		h := hdr("Mcp-Protocol-Version", "2026-07-28", "Mcp-Method", "tools/call", "Mcp-Name", header)
		if CheckHeaders(h, msgs, false) == nil {
			if d, _ := DecodeHeaderValue(header); d != msgs[0].Tool {
				t.Fatalf("accepted Mcp-Name %q for tool %q", header, msgs[0].Tool)
			}
		}
	})
}

func BenchmarkCheckHeaders(b *testing.B) {
	for _, tc := range []struct {
		name, body string
		h          http.Header
	}{
		{"2025-11-25", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","arguments":{"city":"Paris"},"_meta":{"progressToken":3}}}`,
			hdr("Mcp-Protocol-Version", "2025-11-25", "Mcp-Session-Id", "abc")},
		{"2026-07-28", call26("get_weather"), hdr("Mcp-Protocol-Version", "2026-07-28", "Mcp-Method", "tools/call", "Mcp-Name", "get_weather")},
	} {
		msgs, batch, err := ParseRequest([]byte(tc.body), jsonlimit.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if e := CheckHeaders(tc.h, msgs, batch); e != nil {
					b.Fatal(e)
				}
			}
		})
	}
}
