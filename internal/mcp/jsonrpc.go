package mcp

import (
	"bytes"
	"encoding/json"
	"errors"

	sjson "github.com/segmentio/encoding/json"

	"github.com/mcpgate/mcpgate/internal/jsonlimit"
)

// JSON-RPC 2.0 and MCP error codes: the only place mcpgate defines them.
const (
	CodeParseError     = -32700
	CodeInvalidRequest = -32600
	CodeMethodNotFound = -32601
	CodeInvalidParams  = -32602
	CodeInternalError  = -32603
	// CodeServerError is the generic implementation-defined server error (-32000..-32099).
	CodeServerError = -32000
	// CodeUnauthorized is used for authentication and authorization failures reported as
	// JSON-RPC errors, revealed policy refusals included, and by the stdio bridge for a
	// session the server no longer knows.
	CodeUnauthorized = -32001
	// CodeResourceNotFound is what MCP servers answer for an unknown resource.
	CodeResourceNotFound = -32002
	// CodeURLElicitationRequired is the MCP 2025-11-25 URLElicitationRequiredError.
	CodeURLElicitationRequired = -32042
)

// Request is one parsed JSON-RPC message sent by a client. Only the parts the gateway
// needs are decoded; Params keeps the raw parameters.
type Request struct {
	// Method is the JSON-RPC method ("tools/call"). Empty for a response sent by the
	// client (to a server-initiated request, e.g. elicitation or sampling).
	Method string
	// ID is the raw JSON id (a number or string), or nil for a notification.
	ID json.RawMessage
	// Params are the raw params.
	Params json.RawMessage
	// Tool is params.name for tools/call.
	Tool string
	// Arguments is params.arguments for tools/call (raw JSON, may be nil).
	Arguments json.RawMessage
	// URI is params.uri for resources/read, resources/subscribe and resources/unsubscribe.
	URI string
	// Prompt is params.name for prompts/get.
	Prompt string
	// Raw is the message exactly as the client sent it (one element of a batch). It,
	// like every field here, aliases the request body: do not modify it.
	Raw json.RawMessage
}

// IsNotification reports whether the message expects no response.
func (r *Request) IsNotification() bool { return r.Method != "" && len(r.ID) == 0 }

// IsResponse reports whether the message is a client's response to a server request.
func (r *Request) IsResponse() bool { return r.Method == "" }

// Target returns the tool, uri or prompt the request is about, if any.
func (r *Request) Target() string {
	switch {
	case r.Tool != "":
		return r.Tool
	case r.URI != "":
		return r.URI
	default:
		return r.Prompt
	}
}

type wireMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	Method  string          `json:"method"`
	ID      json.RawMessage `json:"id"`
	Params  json.RawMessage `json:"params"`
}

type nameParams struct {
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
	URI       string          `json:"uri"`
}

// decode reads a request's JSON the way MCP servers do: member names match exactly
// (JavaScript's JSON.parse, Python's json, the Go SDK), and the last of duplicate members
// wins. encoding/json would also match "Method" or "NAME" case-insensitively: the gateway
// would then decide on a different tool or method than the server runs
// ({"name":"admin","NAME":"ok"} would pass a rule for "ok" and run "admin"). It is also
// about five times faster than encoding/json here (segmentio/encoding, which the Go SDK
// uses the same way). Strings and raw values alias b (ZeroCopy): no copies per request.
func decode(b []byte, v any) error {
	rest, err := sjson.Parse(b, v, sjson.DontMatchCaseInsensitiveStructFields|sjson.ZeroCopy)
	if err != nil {
		return err
	}
	if len(bytes.TrimLeft(rest, " \t\r\n")) != 0 {
		return errors.New("invalid JSON: data after the top-level value")
	}
	return nil
}

// ErrNotJSONRPC is returned for a body that is not a JSON-RPC message or batch.
var ErrNotJSONRPC = errors.New("body is not a JSON-RPC 2.0 message")

// ParseRequest parses a POST body: a single JSON-RPC message, or a batch (a JSON array,
// allowed by protocol 2025-03-26). batch reports which it was. The messages' strings and
// raw values alias body, which must not be modified afterwards.
//
// The body is first checked against l (jsonlimit.Check): the decoder recurses once per
// nesting level, and an unbounded depth would overflow the goroutine stack, a fatal error
// that ends the process. A body over a limit returns a *jsonlimit.Error.
func ParseRequest(body []byte, l jsonlimit.Limits) (msgs []Request, batch bool, err error) {
	b := bytes.TrimLeft(body, " \t\r\n")
	if len(b) == 0 {
		return nil, false, ErrNotJSONRPC
	}
	if err := jsonlimit.Check(b, l); err != nil {
		return nil, b[0] == '[', err
	}
	if b[0] == '[' {
		var raw []json.RawMessage
		if err := decode(b, &raw); err != nil {
			return nil, true, err
		}
		if len(raw) == 0 {
			return nil, true, ErrNotJSONRPC
		}
		msgs = make([]Request, 0, len(raw))
		for _, m := range raw {
			r, err := parseOne(m)
			if err != nil {
				return msgs, true, err
			}
			msgs = append(msgs, r)
		}
		return msgs, true, nil
	}
	r, err := parseOne(b)
	if err != nil {
		return nil, false, err
	}
	return []Request{r}, false, nil
}

func parseOne(b []byte) (Request, error) {
	var w wireMessage
	if err := decode(b, &w); err != nil {
		return Request{}, err
	}
	if w.JSONRPC != "2.0" {
		return Request{}, ErrNotJSONRPC
	}
	r := Request{Method: w.Method, Params: w.Params, Raw: b}
	if len(w.ID) > 0 && !bytes.Equal(w.ID, []byte("null")) {
		r.ID = w.ID
	}
	switch w.Method {
	case "tools/call", "prompts/get", "resources/read", "resources/subscribe", "resources/unsubscribe":
		var p nameParams
		if len(w.Params) > 0 {
			if err := decode(w.Params, &p); err != nil {
				return r, err
			}
		}
		switch w.Method {
		case "tools/call":
			r.Tool, r.Arguments = p.Name, p.Arguments
		case "prompts/get":
			r.Prompt = p.Name
		default:
			r.URI = p.URI
		}
	}
	return r, nil
}

// ErrorObject is a JSON-RPC error.
type ErrorObject struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Data    any    `json:"data,omitempty"`
}

// ErrorResponse renders a JSON-RPC error response for id (nil → null).
func ErrorResponse(id json.RawMessage, code int, message string, data any) []byte {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	out, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Error   ErrorObject     `json:"error"`
	}{"2.0", id, ErrorObject{Code: code, Message: message, Data: data}})
	if err != nil { // data not encodable: drop it
		out, _ = json.Marshal(struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Error   ErrorObject     `json:"error"`
		}{"2.0", id, ErrorObject{Code: code, Message: message}})
	}
	return out
}

// ResultResponse renders a JSON-RPC result response for id (nil → null).
func ResultResponse(id json.RawMessage, result any) []byte {
	if len(id) == 0 {
		id = json.RawMessage("null")
	}
	out, err := json.Marshal(struct {
		JSONRPC string          `json:"jsonrpc"`
		ID      json.RawMessage `json:"id"`
		Result  any             `json:"result"`
	}{"2.0", id, result})
	if err != nil {
		return ErrorResponse(id, CodeInternalError, "the result could not be encoded", nil)
	}
	return out
}
