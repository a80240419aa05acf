package mcp

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
)

// The standard MCP request headers of protocol 2026-07-28 (SEP-2243). They mirror the
// JSON-RPC body so that balancers and gateways can route without parsing it; a server
// refuses a request whose headers and body disagree.
const (
	HeaderProtocolVersion = "Mcp-Protocol-Version"
	HeaderMethod          = "Mcp-Method"
	HeaderName            = "Mcp-Name"
	// HeaderParamPrefix starts the headers that carry tool arguments annotated with
	// x-mcp-header in the tool's input schema (Mcp-Param-Region for "x-mcp-header": "Region").
	HeaderParamPrefix = "Mcp-Param-"
)

// base64 wraps a header value that is not plain printable ASCII: =?base64?...?=.
const (
	base64Prefix = "=?base64?"
	base64Suffix = "?="
)

// DecodeHeaderValue decodes an MCP header value: a value wrapped as =?base64?<standard
// base64>?= is the text it encodes; any other value is itself. ok is false for a wrapped
// value that is not valid base64. This is the Go SDK's decoding, so that the gateway and
// the upstream read the same name.
func DecodeHeaderValue(v string) (s string, ok bool) {
	enc, found := strings.CutPrefix(v, base64Prefix)
	if !found {
		return v, true
	}
	if enc, found = strings.CutSuffix(enc, base64Suffix); !found {
		return v, true
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		return "", false
	}
	return string(b), true
}

// EncodeHeaderValue renders s for an MCP header: as it is when it is printable ASCII
// without leading or trailing blanks and does not itself look like an encoded value,
// otherwise wrapped in =?base64?...?= (SEP-2243).
func EncodeHeaderValue(s string) string {
	if !needsBase64(s) {
		return s
	}
	return base64Prefix + base64.StdEncoding.EncodeToString([]byte(s)) + base64Suffix
}

func needsBase64(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == ' ' || s[0] == '\t' || s[len(s)-1] == ' ' || s[len(s)-1] == '\t' {
		return true
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			return true
		}
	}
	return strings.HasPrefix(s, base64Prefix) && strings.HasSuffix(s, base64Suffix)
}

// NameMethod reports whether method's requests carry Mcp-Name, and so which body member
// it mirrors: params.name for tools/call and prompts/get, params.uri for resources/read.
func NameMethod(method string) bool {
	switch method {
	case "tools/call", "prompts/get", "resources/read":
		return true
	}
	return false
}

// HeaderError is why a request's MCP headers were refused: an HTTP 400 whose JSON-RPC
// error has Code (CodeHeaderMismatch, or CodeInvalidParams / CodeInvalidRequest as the
// Go SDK answers those cases) and Message, which names the header and both values.
type HeaderError struct {
	Code    int
	Message string
	// Reason is a stable identifier for logs and audit: missing_header,
	// header_mismatch, duplicate_header, missing_meta_version, batch_not_allowed.
	Reason string
	// Index is the message of the body the error is about (its id is answered).
	Index int
}

func (e *HeaderError) Error() string { return e.Message }

func headerErr(i, code int, reason, format string, args ...any) *HeaderError {
	return &HeaderError{Code: code, Reason: reason, Index: i, Message: fmt.Sprintf(format, args...)}
}

// single returns the only value of header name; dup is true when it appears more than
// once (a proxy might pick another value than the server: refused).
func single(h http.Header, name string) (v string, dup bool) {
	vs := h.Values(name)
	switch len(vs) {
	case 0:
		return "", false
	case 1:
		return vs[0], false
	}
	return vs[0], true
}

// CheckHeaders validates a POST's MCP headers against its parsed body the way a
// 2026-07-28 server does (the Go SDK v1.8.0, streamable.go and streamable_headers.go), so
// that the gateway refuses what the upstream would refuse before its policy decides
// anything, and never forwards a request whose headers say something else than the body
// the policy read. It returns nil for requests of earlier versions, which are left as
// they are.
//
// A request is in the new protocol when its Mcp-Protocol-Version header is 2026-07-28 or
// later, or when a message carries a protocol version in _meta. Then:
//   - a batch is refused (JSON-RPC batching ended with 2025-06-18; CodeInvalidRequest);
//   - each request with an id needs the header and _meta versions, equal (missing
//     _meta: CodeInvalidParams, as the SDK answers; otherwise CodeHeaderMismatch);
//   - each request or notification needs Mcp-Method equal to its method, and for
//     tools/call, prompts/get and resources/read Mcp-Name equal to the name or uri
//     (=?base64?...?= decoded); Mcp-Name on another method is refused, as it names
//     nothing in the body;
//   - none of these headers may appear twice.
//
// Mcp-Param-* headers depend on the tool's input schema (x-mcp-header), which the body
// does not carry: CheckParamHeaders checks them given the tool's bindings.
func CheckHeaders(h http.Header, msgs []Request, batch bool) *HeaderError {
	headerVersion, dup := single(h, HeaderProtocolVersion)
	if dup {
		return headerErr(0, CodeHeaderMismatch, "duplicate_header", "the %s header appears more than once", HeaderProtocolVersion)
	}
	newProtocol := Stateless(headerVersion)
	metaVersions := make([]string, len(msgs))
	for i := range msgs {
		if msgs[i].IsResponse() {
			continue
		}
		if metaVersions[i] = msgs[i].MetaProtocolVersion(); metaVersions[i] != "" {
			newProtocol = true
		}
	}
	if !newProtocol {
		return nil
	}
	if batch {
		v := headerVersion
		if v == "" {
			v = Version20260728
		}
		return headerErr(0, CodeInvalidRequest, "batch_not_allowed",
			"JSON-RPC batches are not allowed in protocol version %s (batching ended with 2025-06-18); send each message in its own request", v)
	}
	for i := range msgs {
		m := &msgs[i]
		if m.IsResponse() {
			continue
		}
		meta := metaVersions[i]
		if (!m.IsNotification() && Stateless(headerVersion)) || meta != "" {
			switch {
			case headerVersion == "":
				return headerErr(i, CodeHeaderMismatch, "missing_header",
					"the %s header is required for requests carrying _meta %q (here %q)", HeaderProtocolVersion, MetaKeyProtocolVersion, meta)
			case meta == "":
				return headerErr(i, CodeInvalidParams, "missing_meta_version",
					"missing or invalid _meta field %q: a %s request must carry its protocol version (the %s header says %q)", MetaKeyProtocolVersion, headerVersion, HeaderProtocolVersion, headerVersion)
			case meta != headerVersion:
				return headerErr(i, CodeHeaderMismatch, "header_mismatch",
					"header mismatch: %s header %q does not match _meta %q %q", HeaderProtocolVersion, headerVersion, MetaKeyProtocolVersion, meta)
			}
		}
		if !Stateless(headerVersion) {
			continue // only _meta said so, and agreed: nothing more the SDK checks
		}
		method, dup := single(h, HeaderMethod)
		switch {
		case dup:
			return headerErr(i, CodeHeaderMismatch, "duplicate_header", "the %s header appears more than once", HeaderMethod)
		case method == "":
			return headerErr(i, CodeHeaderMismatch, "missing_header", "missing required %s header (the body's method is %q)", HeaderMethod, m.Method)
		case method != m.Method:
			return headerErr(i, CodeHeaderMismatch, "header_mismatch",
				"header mismatch: %s header %q does not match the body's method %q", HeaderMethod, method, m.Method)
		}
		raw, dup := single(h, HeaderName)
		if dup {
			return headerErr(i, CodeHeaderMismatch, "duplicate_header", "the %s header appears more than once", HeaderName)
		}
		if !NameMethod(m.Method) {
			if raw != "" {
				return headerErr(i, CodeHeaderMismatch, "header_mismatch",
					"header mismatch: %s header %q names nothing in a %s request", HeaderName, raw, m.Method)
			}
			continue
		}
		body := m.Name()
		if raw == "" {
			return headerErr(i, CodeHeaderMismatch, "missing_header", "missing required %s header for method %q (the body's %s is %q)", HeaderName, m.Method, nameMember(m.Method), body)
		}
		name, ok := DecodeHeaderValue(raw)
		if !ok {
			return headerErr(i, CodeHeaderMismatch, "header_mismatch", "header mismatch: the %s header %q is not valid =?base64?...?= encoding", HeaderName, raw)
		}
		if name != body {
			return headerErr(i, CodeHeaderMismatch, "header_mismatch",
				"header mismatch: %s header %q does not match the body's %s %q", HeaderName, name, nameMember(m.Method), body)
		}
	}
	return nil
}

// Name is the body member Mcp-Name mirrors (see NameMethod): the tool, prompt or
// resource URI; "" for other methods.
func (r *Request) Name() string {
	switch r.Method {
	case "tools/call":
		return r.Tool
	case "prompts/get":
		return r.Prompt
	case "resources/read":
		return r.URI
	}
	return ""
}

func nameMember(method string) string {
	if method == "resources/read" {
		return "params.uri"
	}
	return "params.name"
}
