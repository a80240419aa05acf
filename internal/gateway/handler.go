package gateway

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcpgate/mcpgate/internal/httplimit"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
	"github.com/mcpgate/mcpgate/internal/mcp"
)

// serve handles one request on the route's MCP endpoint.
func (rt *route) serve(w http.ResponseWriter, r *http.Request) {
	rec := &Event{Route: rt.opts.Name, Start: time.Now(), HTTPMethod: r.Method, SessionID: r.Header.Get("Mcp-Session-Id"),
		UserAgent: r.Header.Get("User-Agent"), RemoteIP: rt.s.clientIP(r)}
	r, span := rt.startRequestSpan(r) // trace.go: nil when tracing is off
	defer endRequestSpan(span, rec)
	defer rt.finish(r, rec)

	if !rt.s.hostAllowed(r.Context(), r) {
		rt.jsonrpcError(w, rec, http.StatusForbidden, nil, "forbidden_host",
			"the Host header "+quoteName(r.Host)+" does not name this gateway; a loopback listener accepts only localhost names (DNS rebinding protection); set publicURL or allowedHosts if it is legitimate")
		return
	}
	base := rt.s.baseURL(r)
	origin := r.Header.Get("Origin")
	if r.Method == http.MethodOptions {
		rt.preflight(w, r, rec, base)
		return
	}
	if origin != "" {
		if !rt.originAllowed(origin, base) {
			rt.forbiddenOrigin(w, rec, origin)
			return
		}
		rt.setCORS(w, origin)
	}
	switch r.Method {
	case http.MethodPost, http.MethodGet, http.MethodDelete:
	default:
		w.Header().Set("Allow", "GET, POST, DELETE, OPTIONS")
		rt.jsonrpcError(w, rec, http.StatusMethodNotAllowed, nil, "method_not_allowed", "an MCP endpoint accepts POST, GET and DELETE")
		return
	}

	_, authSpan := rt.childSpan(r.Context(), "authenticate", trace.SpanKindInternal)
	p, ok := rt.authenticate(w, r, rec, base)
	authSpan.SetAttributes(attribute.String("mcpgate.token", rec.Token), attribute.String("mcpgate.token_reason", rec.TokenReason))
	authSpan.End()
	if !ok {
		return
	}
	rec.Principal = p

	var body []byte
	call := &Call{Route: rt.opts.Name, HTTPMethod: r.Method, Principal: p, SessionID: rec.SessionID,
		RemoteIP: rec.RemoteIP, Time: rec.Start}
	if r.Method == http.MethodPost {
		var err error
		body, err = rt.readBody(r)
		if err != nil {
			var slow *httplimit.TimeoutError
			switch {
			case errors.Is(err, errTooLarge):
				rt.jsonrpcError(w, rec, http.StatusRequestEntityTooLarge, nil, "request_too_large",
					"route "+quoteName(rt.opts.Name)+": the request body exceeds the limit of "+strconv.FormatInt(rt.opts.MaxRequestBytes, 10)+" bytes (limits.maxRequestBytes)")
			case errors.As(err, &slow):
				w.Header().Set("Connection", "close")
				rt.jsonrpcError(w, rec, http.StatusRequestTimeout, nil, "slow_body", "route "+quoteName(rt.opts.Name)+": "+slow.Error()+" (bodyReadTimeout, bodyMinRate)")
			default:
				rt.jsonrpcError(w, rec, http.StatusBadRequest, nil, "bad_body", "route "+quoteName(rt.opts.Name)+": the request body could not be read")
			}
			return
		}
		call.Messages, call.Batch, call.ParseErr = mcp.ParseRequest(body, rt.opts.JSONLimits)
		if le := (*jsonlimit.Error)(nil); errors.As(call.ParseErr, &le) {
			// Refused here, whatever the route's policy: a body this deep or this large
			// in values is not an MCP message, and upstream decoders may not bound it.
			key := map[string]string{"depth": "maxJSONDepth", "values": "maxJSONValues"}[le.Limit]
			rec.Reasons = append(rec.Reasons, "json_limit")
			rt.jsonrpcErrorCode(w, rec, http.StatusBadRequest, nil, "json_limit", mcp.CodeParseError,
				"route "+quoteName(rt.opts.Name)+": the request body was refused: "+le.Error()+" (limits."+key+")")
			return
		}
		rec.Messages = call.Messages
		if len(call.Messages) > 0 {
			m := &call.Messages[0]
			rec.MCPMethod, rec.Tool, rec.URI, rec.Prompt, rec.RequestID, rec.Arguments = m.Method, m.Tool, m.URI, m.Prompt, m.ID, m.Arguments
		}
	}

	if !rt.checkProtocol(w, r, rec, call) { // protocol.go: 2026-07-28 headers match the body
		return
	}

	// Sessions belong to who created them; streams and sessions are capped per user.
	rec.keys.p, rec.keys.rec = p, rec
	if !rt.resumeInput(w, r, rec, call, &body) { // requeststate.go: the gateway's own requestState
		return
	}
	switch {
	case rec.SessionID != "":
		if !rt.checkSession(w, r, rec, rec.keys.owner()) {
			return
		}
	case r.Method == http.MethodPost && len(call.Messages) > 0 && call.Messages[0].Method == "initialize":
		if !rt.admitSession(w, r, rec, rec.keys.user()) {
			return
		}
	}
	if r.Method == http.MethodGet || isListen(r, call) {
		release, perUser, ok := rt.acquireStream(rec.keys.user())
		if !ok {
			rt.streamLimit(w, rec, perUser)
			return
		}
		rec.release = release
	}

	var rewrite Rewriter
	if ic := rt.opts.Interceptor; ic != nil {
		call.Header = r.Header.Clone()
		call.Header.Del("Authorization") // the interceptor never sees the token
		ictx, policySpan := rt.childSpan(r.Context(), "policy", trace.SpanKindInternal)
		v := ic.Intercept(ictx, call)
		policySpan.SetAttributes(attribute.String("mcpgate.decision", v.Decision), attribute.Bool("mcpgate.denied", v.Deny != nil))
		policySpan.End()
		rec.Reasons = append(rec.Reasons, v.Reasons...)
		rec.Rules = v.Rules
		if v.Tool != "" {
			rec.Tool = v.Tool
		}
		if v.Deny != nil {
			rec.Decision = v.Decision
			if rec.Decision == "" {
				rec.Decision = "deny"
			}
			rt.deny(w, rec, base, call, v.Deny)
			return
		}
		rec.Decision = v.Decision
		rewrite = rt.privateLists(r, call, v.Rewrite) // protocol.go: cacheScope private, ttlMs capped
		if v.Body != nil && r.Method == http.MethodPost {
			body = v.Body
			rt.bodyReplaced(r.Header, call, body) // protocol.go
		}
	}
	if rec.Decision == "" {
		rec.Decision = "allow"
	}
	rewrite = rt.learnParams(r, call, rewrite) // protocol.go: Mcp-Param-* bindings from tools/list
	rt.proxy(w, r, rec, call, body, rewrite, base)
}

var errTooLarge = errors.New("request body too large")

func (rt *route) readBody(r *http.Request) ([]byte, error) {
	limit := rt.opts.MaxRequestBytes
	if r.ContentLength > limit {
		return nil, errTooLarge
	}
	if r.ContentLength >= 0 {
		// The usual case: the length is known (net/http's body ends there), so read into a
		// buffer of exactly that size; one allocation, no growing.
		b := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	buf := bytes.NewBuffer(make([]byte, 0, 512))
	n, err := buf.ReadFrom(io.LimitReader(r.Body, limit+1))
	if err != nil {
		return nil, err
	}
	if n > limit {
		return nil, errTooLarge
	}
	return buf.Bytes(), nil
}

// deny renders an Interceptor's refusal.
func (rt *route) deny(w http.ResponseWriter, rec *Event, base string, c *Call, d *Denial) {
	if len(d.InsufficientScope) > 0 {
		var granted []string
		if rec.Principal != nil {
			granted = rec.Principal.Scopes
		}
		msg := d.Message
		if msg == "" {
			msg = "this request needs more scopes; sign in again granting them"
		}
		rt.challenge(w, rec, base, http.StatusForbidden, "insufficient_scope", msg, unionScopes(qualified(rt.opts.ScopePrefix, d.InsufficientScope), qualified(rt.opts.ScopePrefix, granted)))
		return
	}
	var id []byte
	if len(c.Messages) == 1 {
		id = c.Messages[0].ID
	}
	status := d.HTTPStatus
	if d.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((d.RetryAfter+time.Second-1)/time.Second), 10))
		if status == 0 {
			status = http.StatusTooManyRequests
		}
	}
	if status == 0 {
		status = http.StatusForbidden
		if len(id) > 0 || d.Responses != nil {
			status = http.StatusOK
		}
	}
	code, msg := d.Code, d.Message
	if code == 0 {
		code = mcp.CodeUnauthorized
	}
	if msg == "" {
		msg = "forbidden by the policy of route " + quoteName(rt.opts.Name)
	}
	rec.Status = status
	rec.Error = msg
	if d.Responses != nil {
		b := []byte{'['}
		for i, m := range d.Responses {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, m...)
		}
		writeRaw(w, status, append(b, ']'))
		return
	}
	writeRaw(w, status, mcp.ErrorResponse(id, code, msg, d.Data))
}
