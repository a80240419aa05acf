package mcp

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Multi round-trip requests (MRTR, 2026-07-28, SEP-2322): instead of sending the client a
// request of its own (elicitation, sampling, roots), a server answers tools/call,
// prompts/get or resources/read with an input-required result: requests for input
// (inputRequests) and an opaque requestState. The client fulfils the requests and sends
// the original request again, with params.inputResponses and the requestState echoed.
//
//	{"resultType":"input_required",
//	 "inputRequests":{"<key>":{"method":"elicitation/create","params":{"mode":"url","message":"…","url":"…"}}},
//	 "requestState":"…"}

// MetaKeyClientCapabilities is the _meta key under which a 2026-07-28 request carries the
// client's capabilities (SEP-2575).
const MetaKeyClientCapabilities = "io.modelcontextprotocol/clientCapabilities"

// ResultTypeInputRequired is the resultType of an input-required result.
const ResultTypeInputRequired = "input_required"

// InputMethod reports whether a server may answer method with an input-required result
// (the MRTR pattern's "supported requests").
func InputMethod(method string) bool {
	switch method {
	case "tools/call", "prompts/get", "resources/read":
		return true
	}
	return false
}

// InputParams are the MRTR members of a retried request's params.
type InputParams struct {
	// RequestState is params.requestState ("" when absent or not a string).
	RequestState string
	// InputResponses is params.inputResponses, raw (nil when absent).
	InputResponses json.RawMessage
	// URLElicitation reports whether the client declares URL elicitation:
	// params._meta["io.modelcontextprotocol/clientCapabilities"].elicitation.url is an
	// object.
	URLElicitation bool
}

// Input reads the MRTR members of the request's params, decoded as servers decode them
// (exact member names, the last of duplicates wins). A request without any of them, or
// with params that are not an object, has the zero InputParams.
func (r *Request) Input() InputParams {
	p := r.Params
	if len(p) == 0 || (!bytes.Contains(p, []byte("requestState")) && !bytes.Contains(p, []byte("inputResponses")) &&
		!bytes.Contains(p, []byte("clientCapabilities")) && !bytes.Contains(p, []byte(`\u`))) {
		return InputParams{}
	}
	var v struct {
		RequestState   any             `json:"requestState"`
		InputResponses json.RawMessage `json:"inputResponses"`
		Meta           struct {
			Caps struct {
				Elicitation struct {
					URL json.RawMessage `json:"url"`
				} `json:"elicitation"`
			} `json:"io.modelcontextprotocol/clientCapabilities"`
		} `json:"_meta"`
	}
	if decode(p, &v) != nil {
		return InputParams{}
	}
	out := InputParams{InputResponses: v.InputResponses}
	out.RequestState, _ = v.RequestState.(string)
	if u := bytes.TrimSpace(v.Meta.Caps.Elicitation.URL); len(u) > 0 && u[0] == '{' {
		out.URLElicitation = true
	}
	if bytes.Equal(bytes.TrimSpace(out.InputResponses), []byte("null")) {
		out.InputResponses = nil
	}
	return out
}

// InputAction is the action of the elicitation result under key in raw inputResponses
// ("accept", "decline", "cancel"; "" when there is none or it is not an object).
func InputAction(inputResponses json.RawMessage, key string) string {
	if len(inputResponses) == 0 {
		return ""
	}
	var m map[string]json.RawMessage
	if decode(inputResponses, &m) != nil {
		return ""
	}
	var res struct {
		Action any `json:"action"`
	}
	if decode(m[key], &res) != nil {
		return ""
	}
	s, _ := res.Action.(string)
	return s
}

// errNotObject is returned for a message or params that are not JSON objects.
var errNotObject = errors.New("mcp: not a JSON object")

// WithInput returns the message raw (one JSON-RPC request) with its params'
// requestState and inputResponses replaced: an empty state or nil responses remove the
// member. Every other member is kept (the order of members is not).
func WithInput(raw json.RawMessage, state string, responses json.RawMessage) ([]byte, error) {
	var msg map[string]json.RawMessage
	if err := decode(raw, &msg); err != nil || msg == nil {
		return nil, errNotObject
	}
	params := map[string]json.RawMessage{}
	if p := bytes.TrimSpace(msg["params"]); len(p) > 0 && !bytes.Equal(p, []byte("null")) {
		if err := decode(p, &params); err != nil || params == nil {
			return nil, errNotObject
		}
	}
	delete(params, "requestState")
	delete(params, "inputResponses")
	if state != "" {
		b, err := json.Marshal(state)
		if err != nil {
			return nil, err
		}
		params["requestState"] = b
	}
	if len(responses) > 0 {
		params["inputResponses"] = responses
	}
	p, err := json.Marshal(params)
	if err != nil {
		return nil, err
	}
	msg["params"] = p
	return json.Marshal(msg)
}

// URLInputRequired is the input-required result that asks the client, through a URL
// elicitation under key, to send the user to url (SEP-2322; 2026-07-28 URL mode has no
// elicitationId: a server that follows the interaction keeps its own id in requestState).
func URLInputRequired(key, message, url, state string) map[string]any {
	return map[string]any{
		"resultType": ResultTypeInputRequired,
		"inputRequests": map[string]any{key: map[string]any{
			"method": "elicitation/create",
			"params": map[string]any{"mode": "url", "message": message, "url": url},
		}},
		"requestState": state,
	}
}
