package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/jsonlimit"
	"github.com/mcpgate/mcpgate/internal/mcp"
)

// Protocol versions through the gateway (docs/gateway.md, "Protocol versions").
//
// Each request is served in the version it is made in: 2025-11-25 and earlier as they
// always were (initialize, Mcp-Session-Id bound to its owner, the GET stream), 2026-07-28
// and later statelessly (no session, so no session check; server/discover; the
// subscriptions/listen stream). A 2026-07-28 request is checked before the policy sees
// it: its Mcp-Method / Mcp-Name / Mcp-Protocol-Version headers must be present and say
// what its body says (mcp.CheckHeaders), and a batch is refused. A balancer or server that
// routes on those headers then acts on exactly what the policy decided.

const defaultListTTL = 60 * time.Second

// checkProtocol records the request's protocol version on the call and the event, and
// refuses a 2026-07-28 POST whose headers do not match its body (HTTP 400 with the
// JSON-RPC error a 2026-07-28 server sends, usually -32020). It returns false when it
// answered.
func (rt *route) checkProtocol(w http.ResponseWriter, r *http.Request, rec *Event, call *Call) bool {
	dropMCPLookAlikes(r.Header, rec)
	call.version = mcp.ProtocolVersion(r.Header, call.Messages)
	rec.ProtocolVersion = call.version
	if r.Method != http.MethodPost || call.ParseErr != nil || len(call.Messages) == 0 {
		return true // an unreadable body is the policy's to refuse, as before
	}
	e := mcp.CheckHeaders(r.Header, call.Messages, call.Batch)
	if m := &call.Messages[0]; e == nil && !call.Batch && m.Method == "tools/call" && mcp.Stateless(call.version) {
		if b, known := rt.params.Get(m.Tool); known {
			e = mcp.CheckParamHeaders(r.Header, m, b)
		}
	}
	if e == nil {
		return true
	}
	var id json.RawMessage
	if !call.Batch && e.Index < len(call.Messages) {
		id = call.Messages[e.Index].ID
	}
	rec.Reasons = append(rec.Reasons, e.Reason)
	rt.jsonrpcErrorCode(w, rec, http.StatusBadRequest, id, e.Reason, e.Code, "route "+quoteName(rt.opts.Name)+": "+e.Message)
	return false
}

// dropMCPLookAlikes removes the client's headers whose names only look like MCP's
// (Mcp_Name, mcp.method, Mcp_Session_Id, Mcp_Param_Region): servers built on CGI, Rack or
// WSGI read them as the real ones, so a request could carry a checked Mcp-Name (or an
// owned Mcp-Session-Id) for the gateway and another one for the upstream.
func dropMCPLookAlikes(h http.Header, rec *Event) {
	for k := range h {
		if !strings.ContainsAny(k, "_.") {
			continue // canonical names are the real headers
		}
		switch f := foldHeader(k); {
		case f == "mcpsessionid", f == "mcpprotocolversion", f == "mcpmethod", f == "mcpname", strings.HasPrefix(f, "mcpparam"):
			delete(h, k)
			rec.Reasons = append(rec.Reasons, "mcp_header_lookalike_dropped")
		}
	}
}

// learnParams wraps the response rewriter of a 2026-07-28 tools/list to learn the listed
// tools' Mcp-Param-* bindings from what the client gets (after filtering and renames).
func (rt *route) learnParams(r *http.Request, call *Call, rw Rewriter) Rewriter {
	if r.Method != http.MethodPost || call.Batch || len(call.Messages) != 1 || call.Messages[0].Method != "tools/list" || !mcp.Stateless(call.version) {
		return rw
	}
	return func(ctx context.Context, msg []byte) ([]byte, error) {
		out := msg
		if rw != nil {
			var err error
			if out, err = rw(ctx, msg); err != nil || out == nil {
				return out, err
			}
		}
		if tools, ok := mcp.ListParamBindings(out); ok {
			rt.params.Learn(tools)
		}
		return out, nil
	}
}

// isListen reports whether the call opens a 2026-07-28 subscriptions/listen stream: it
// counts against the stream caps as a GET stream does.
func isListen(r *http.Request, call *Call) bool {
	return r.Method == http.MethodPost && !call.Batch && len(call.Messages) == 1 && call.Messages[0].Method == "subscriptions/listen"
}

// bodyReplaced keeps a 2026-07-28 request's Mcp-Method and Mcp-Name true to a body the
// interceptor replaced (a renamed tool is called upstream under its upstream name): the
// upstream refuses a request whose headers and body differ, and anything routing on the
// headers must see the tool that is really called.
func (rt *route) bodyReplaced(h http.Header, call *Call, body []byte) {
	if !mcp.Stateless(h.Get(mcp.HeaderProtocolVersion)) {
		return
	}
	msgs, batch, err := mcp.ParseRequest(body, jsonlimit.Limits{})
	if err != nil || batch || len(msgs) != 1 {
		return
	}
	m := &msgs[0]
	h.Set(mcp.HeaderMethod, m.Method)
	if mcp.NameMethod(m.Method) {
		h.Set(mcp.HeaderName, mcp.EncodeHeaderValue(m.Name()))
	}
}

// privateLists wraps the interceptor's rewriter of a response that may hold list results:
// a list the gateway filters or rewrites is per user, so it is marked cacheScope
// "private" (set on 2026-07-28, where the member belongs to the result; on earlier
// versions only an upstream's "public" is overwritten), and its ttlMs is capped at the
// route's ListTTL so that a policy change reaches clients within that time. Without a
// rewriter nothing is filtered, and the upstream's cache hints pass as they are.
func (rt *route) privateLists(r *http.Request, call *Call, rw Rewriter) Rewriter {
	if rw == nil {
		return nil
	}
	if r.Method != http.MethodGet && !isListen(r, call) && !slices.ContainsFunc(call.Messages, func(m mcp.Request) bool { return isListMethod(m.Method) }) {
		return rw // calls and reads: no list results to mark
	}
	add := mcp.Stateless(call.version)
	ttl := rt.opts.ListTTL.Milliseconds()
	return func(ctx context.Context, msg []byte) ([]byte, error) {
		out, err := rw(ctx, msg)
		if err != nil || out == nil {
			return out, err
		}
		return markPrivate(out, add, ttl), nil
	}
}

var listArrays = [...]string{"tools", "prompts", "resources", "resourceTemplates"}

func isListMethod(m string) bool {
	switch m {
	case "tools/list", "prompts/list", "resources/list", "resources/templates/list":
		return true
	}
	return false
}

// markPrivate sets cacheScope "private" (always when add, else only over an existing
// member) and caps ttlMs at ttlMs on a list result message, or on each list result of a
// batch response. Anything else is returned as it is.
func markPrivate(msg []byte, add bool, ttlMs int64) []byte {
	b := bytes.TrimLeft(msg, " \t\r\n")
	if len(b) > 0 && b[0] == '[' {
		var arr []json.RawMessage
		if json.Unmarshal(b, &arr) != nil {
			return msg
		}
		changed := false
		for i, el := range arr {
			if n := markPrivate(el, add, ttlMs); !bytes.Equal(n, el) {
				arr[i], changed = n, true
			}
		}
		if !changed {
			return msg
		}
		return marshalRaw(arr, msg)
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(b, &top) != nil || top["method"] != nil {
		return msg
	}
	var res map[string]json.RawMessage
	if json.Unmarshal(top["result"], &res) != nil || res == nil {
		return msg
	}
	isList := false
	for _, k := range listArrays {
		isList = isList || res[k] != nil
	}
	if !isList {
		return msg
	}
	changed := false
	if _, ok := res["cacheScope"]; ok || add {
		if string(res["cacheScope"]) != `"private"` {
			res["cacheScope"] = json.RawMessage(`"private"`)
			changed = true
		}
	}
	if raw, ok := res["ttlMs"]; ok {
		if n, err := strconv.ParseFloat(string(raw), 64); err != nil || n > float64(ttlMs) {
			res["ttlMs"] = json.RawMessage(strconv.FormatInt(ttlMs, 10))
			changed = true
		}
	}
	if !changed {
		return msg
	}
	if top["result"] = marshalRaw(res, nil); top["result"] == nil {
		return msg
	}
	return marshalRaw(top, msg)
}

// marshalRaw encodes v without HTML escaping; on failure it returns fallback.
func marshalRaw(v any, fallback []byte) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return fallback
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}
