package mcp

import (
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/mcpgate/mcpgate/internal/jsonlimit"
)

// ParamBinding is one tool argument that 2026-07-28 clients also send in a header: the
// input schema property at Path (nested objects' property names) is annotated
// "x-mcp-header": Header, and travels as Mcp-Param-<Header> (SEP-2243).
type ParamBinding struct {
	Path   []string
	Header string
}

// MaxToolParams bounds ToolParams: a server listing more tools gets the rest of its calls
// checked by itself only.
const MaxToolParams = 10_000

// ToolParams remembers the Mcp-Param-* bindings of a server's tools, by the name clients
// call them, as learned from the 2026-07-28 tools/list results seen (ParamBindingsOfList),
// for up to MaxToolParams tools. The zero value is empty and ready; safe for concurrent use.
type ToolParams struct {
	mu sync.RWMutex
	m  map[string][]ParamBinding
}

// Get returns the bindings of tool, and whether the tool was seen listed.
func (p *ToolParams) Get(tool string) ([]ParamBinding, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	b, ok := p.m[tool]
	return b, ok
}

// Learn records the bindings of listed tools (a tool already known is updated; new ones
// only while fewer than MaxToolParams are known).
func (p *ToolParams) Learn(tools map[string][]ParamBinding) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = make(map[string][]ParamBinding, len(tools))
	}
	for name, b := range tools {
		if _, ok := p.m[name]; ok || len(p.m) < MaxToolParams {
			p.m[name] = b
		}
	}
}

type schemaProperty struct {
	XMCPHeader json.RawMessage           `json:"x-mcp-header"`
	Properties map[string]schemaProperty `json:"properties"`
}

// maxBindingDepth bounds how deeply ParamBindings looks into nested properties.
const maxBindingDepth = 16

// ParamBindings returns the x-mcp-header annotations of a tool's input schema (raw
// JSON), at any nesting depth, as the Go SDK reads them. Annotations that are not a
// non-empty string are ignored here (the SDK drops such tools from its lists).
func ParamBindings(inputSchema json.RawMessage) []ParamBinding {
	var s schemaProperty
	if len(inputSchema) == 0 || decode(inputSchema, &s) != nil {
		return nil
	}
	out := collectBindings(s.Properties, nil, nil)
	// Two arguments bound to one header (names compared case-insensitively) make the tool
	// invalid: the SDK drops it from its lists, so no client sends it headers, and no
	// binding of it is checked here either (one header cannot carry two values).
	seen := make(map[string]bool, len(out))
	for _, b := range out {
		k := strings.ToLower(b.Header)
		if seen[k] {
			return nil
		}
		seen[k] = true
	}
	return out
}

func collectBindings(props map[string]schemaProperty, prefix []string, out []ParamBinding) []ParamBinding {
	if len(prefix) >= maxBindingDepth {
		return out
	}
	for name, p := range props {
		path := append(append(make([]string, 0, len(prefix)+1), prefix...), name)
		var h string
		if len(p.XMCPHeader) > 0 && decode(p.XMCPHeader, &h) == nil && h != "" {
			out = append(out, ParamBinding{Path: path, Header: h})
		}
		out = collectBindings(p.Properties, path, out)
	}
	return out
}

// listLimits bound an upstream's tools/list before it is decoded here: the decoder
// recurses once per level (jsonlimit), and an upstream is not trusted to bound it.
var listLimits = jsonlimit.Limits{MaxDepth: 256, MaxValues: -1}

// ListParamBindings reads a tools/list result message and returns, for each listed tool,
// its bindings (nil when it has none). ok is false when msg is not a tools/list result,
// or nests deeper than 256 levels.
func ListParamBindings(msg []byte) (tools map[string][]ParamBinding, ok bool) {
	if jsonlimit.Check(msg, listLimits) != nil {
		return nil, false
	}
	var m struct {
		Result *struct {
			Tools []struct {
				Name        string          `json:"name"`
				InputSchema json.RawMessage `json:"inputSchema"`
			} `json:"tools"`
		} `json:"result"`
	}
	if decode(msg, &m) != nil || m.Result == nil || m.Result.Tools == nil {
		return nil, false
	}
	tools = make(map[string][]ParamBinding, len(m.Result.Tools))
	for _, t := range m.Result.Tools {
		tools[t.Name] = ParamBindings(t.InputSchema)
	}
	return tools, true
}

// CheckParamHeaders checks a 2026-07-28 tools/call's Mcp-Param-* headers against its
// arguments, given the tool's bindings, as the Go SDK server does: an argument that is
// present (and not null) needs its header, with the same value once =?base64?...?= is
// decoded (integers compared as numbers); an absent or null one must have no header.
// Headers no binding names are not looked at.
func CheckParamHeaders(h http.Header, m *Request, bindings []ParamBinding) *HeaderError {
	if len(bindings) == 0 {
		return nil
	}
	var args map[string]json.RawMessage
	if len(m.Arguments) > 0 && decode(m.Arguments, &args) != nil {
		return nil // the SDK checks nothing then either; the tool call itself fails
	}
	for _, b := range bindings {
		name := HeaderParamPrefix + b.Header
		v, dup := single(h, name)
		if dup {
			return headerErr(0, CodeHeaderMismatch, "duplicate_header", "the %s header appears more than once", name)
		}
		path := strings.Join(b.Path, ".")
		raw, found := lookupArgument(args, b.Path)
		if !found || string(raw) == "null" {
			if v != "" {
				return headerErr(0, CodeHeaderMismatch, "header_mismatch", "header mismatch: unexpected %s header for absent or null argument %q", name, path)
			}
			continue
		}
		if v == "" {
			return headerErr(0, CodeHeaderMismatch, "missing_header", "header mismatch: missing %s header for argument %q", name, path)
		}
		decoded, ok := DecodeHeaderValue(v)
		if !ok {
			return headerErr(0, CodeHeaderMismatch, "header_mismatch", "header mismatch: the %s header %q is not valid =?base64?...?= encoding", name, v)
		}
		if !primitiveEqual(decoded, raw) {
			return headerErr(0, CodeHeaderMismatch, "header_mismatch", "header mismatch: %s header %q does not match argument %q", name, v, path)
		}
	}
	return nil
}

func lookupArgument(args map[string]json.RawMessage, path []string) (json.RawMessage, bool) {
	cur, ok := args[path[0]]
	for _, p := range path[1:] {
		if !ok {
			return nil, false
		}
		var obj map[string]json.RawMessage
		if decode(cur, &obj) != nil {
			return nil, false
		}
		cur, ok = obj[p]
	}
	return cur, ok
}

// primitiveEqual compares a decoded header with a JSON argument: a string or boolean by
// its text, an integer (within ±2^53-1) by value. Other values never match.
func primitiveEqual(header string, raw json.RawMessage) bool {
	var v any
	if decode(raw, &v) != nil {
		return false
	}
	switch v := v.(type) {
	case string:
		return header == v
	case bool:
		return header == strconv.FormatBool(v)
	case float64:
		const maxSafe = 1<<53 - 1
		if math.IsNaN(v) || math.IsInf(v, 0) || v != math.Trunc(v) || math.Abs(v) > maxSafe {
			return false
		}
		n, err := strconv.ParseFloat(header, 64)
		return err == nil && n == v
	}
	return false
}

// ParamHeaders returns the Mcp-Param-* headers a 2026-07-28 client sends with a
// tools/call, given the tool's bindings, as the Go SDK client makes them: for each bound
// argument that is present, not null and a string, boolean or safe integer, its text
// (=?base64?...?= when not plain ASCII). Nothing for other arguments, which
// CheckParamHeaders refuses as the Go SDK server does.
func ParamHeaders(m *Request, bindings []ParamBinding) map[string]string {
	if len(bindings) == 0 || len(m.Arguments) == 0 {
		return nil
	}
	var args map[string]json.RawMessage
	if decode(m.Arguments, &args) != nil {
		return nil
	}
	out := map[string]string{}
	for _, b := range bindings {
		raw, found := lookupArgument(args, b.Path)
		if !found {
			continue
		}
		var v any
		if decode(raw, &v) != nil {
			continue
		}
		var s string
		switch v := v.(type) {
		case string:
			s = v
		case bool:
			s = strconv.FormatBool(v)
		case float64:
			const maxSafe = 1<<53 - 1
			if math.IsNaN(v) || math.IsInf(v, 0) || v != math.Trunc(v) || math.Abs(v) > maxSafe {
				continue
			}
			s = strconv.FormatInt(int64(v), 10)
		default:
			continue
		}
		out[HeaderParamPrefix+b.Header] = EncodeHeaderValue(s)
	}
	return out
}
