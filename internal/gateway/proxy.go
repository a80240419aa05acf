package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/mcp"
)

// hopHeaders are removed in both directions (RFC 9110 §7.6.1).
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

func removeHopHeaders(h http.Header) {
	removeConnectionListed(h, h.Values("Connection"))
	for _, k := range hopHeaders {
		h.Del(k)
	}
}

// removeConnectionListed deletes from h the headers a Connection header (its values
// connection) names as hop-by-hop.
func removeConnectionListed(h http.Header, connection []string) {
	for _, f := range connection {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
}

// copyBufs serve bodies that end soon; streamBufs serve SSE streams, which hold their
// buffer for as long as they stay open (often idle), so they are small: every event is
// flushed as soon as it is read anyway.
var (
	copyBufs   = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}
	streamBufs = sync.Pool{New: func() any { b := make([]byte, 2<<10); return &b }}
)

// notForwarded are the client headers the upstream never gets as sent: hop-by-hop ones,
// the gateway's own cookies, Forwarded, and the X-Forwarded-* headers the gateway sets.
var notForwarded = func() map[string]bool {
	m := map[string]bool{"Cookie": true, "Forwarded": true, "X-Forwarded-For": true, "X-Forwarded-Host": true, "X-Forwarded-Proto": true}
	for _, k := range hopHeaders {
		m[k] = true
	}
	return m
}()

// outHeader builds the upstream request's header from the client's: one map sized for
// what is added and one backing array for the values (like Header.Clone), without the
// headers that are not forwarded.
func (rt *route) outHeader(r *http.Request, p *authn.Principal, base string) http.Header {
	in := r.Header
	nv := 0
	for _, vs := range in {
		nv += len(vs)
	}
	h := make(http.Header, len(in)+4+len(rt.identity)) // + X-Forwarded-*, User-Agent, identity
	sv := make([]string, nv)
	for k, vs := range in {
		if notForwarded[k] || (k == "Authorization" && !rt.opts.Passthrough) || slices.Contains(rt.identity, k) || rt.lookAlike(k) {
			continue
		}
		if vs == nil {
			h[k] = nil
			continue
		}
		n := copy(sv, vs)
		h[k] = sv[:n:n]
		sv = sv[n:]
	}
	removeConnectionListed(h, in["Connection"])
	if p != nil {
		id := rt.opts.Identity
		set := func(name, v string) {
			if name != "" && v != "" {
				h.Set(name, headerSafe(v))
			}
		}
		set(id.Subject, p.Subject)
		set(id.Email, p.Email)
		set(id.Name, p.Name)
		set(id.Groups, strings.Join(p.Groups, ","))
		set(id.ClientID, p.ClientID)
	}
	// X-Forwarded-For: extend the chain only when the peer is a trusted proxy.
	clientIP := ""
	ip, ok := remoteIP(r)
	if ok {
		clientIP = ip.String()
	}
	if prior := in.Values("X-Forwarded-For"); len(prior) > 0 && ok && rt.s.isTrusted(ip) {
		clientIP = strings.Join(prior, ", ") + ", " + clientIP
	}
	if clientIP != "" {
		h["X-Forwarded-For"] = []string{clientIP}
	}
	if i := strings.Index(base, "://"); i > 0 {
		h["X-Forwarded-Proto"] = []string{base[:i]}
		h["X-Forwarded-Host"] = []string{base[i+3:]}
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = nil // do not let net/http add its own
	}
	return h
}

// mediaType is a Content-Type's media type, lower-cased, without parameters. It is what
// mime.ParseMediaType returns first, for the types compared here, without building the
// parameter map on every response.
func mediaType(v string) string {
	if i := strings.IndexByte(v, ';'); i >= 0 {
		v = v[:i]
	}
	v = textproto.TrimString(v)
	for i := 0; i < len(v); i++ {
		if 'A' <= v[i] && v[i] <= 'Z' {
			return strings.ToLower(v)
		}
	}
	return v
}

// headerSafe drops control characters (a claim must not be able to inject headers).
func headerSafe(v string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, v)
}

// proxy forwards the request and streams the response back.
func (rt *route) proxy(w http.ResponseWriter, r *http.Request, rec *Event, call *Call, body []byte, rewrite Rewriter, base string) {
	p := call.Principal
	ctx, cancel := context.WithCancel(r.Context()) // ended by the stream idle timeout too
	defer cancel()
	if rt.opts.Handler != nil {
		owner := rec.keys.owner()
		c := &Caller{Principal: p, Request: r, inputAction: call.inputAction,
			input: func(in *URLInput) (string, string, bool) { return rt.inputRequired(ctx, owner, call, in) },
			await: func(ctx context.Context, err error, try func() error) error { return rt.awaitUser(ctx, call, err, try) }}
		ctx = context.WithValue(ctx, callerKey{}, c)
		defer func() { rec.Upstream = c.Upstream() }()
	}
	if r.Context().Value(servedKey{}) == nil {
		// The handler is mounted in another server (Handler): tie the exchange to a
		// shutdown that timed out here. Under Serve, the request's context already is.
		stop := context.AfterFunc(rt.s.killCtx, cancel)
		defer stop()
	}

	u := *rt.upstream
	if r.URL.RawQuery != "" {
		if u.RawQuery != "" {
			u.RawQuery += "&" + r.URL.RawQuery
		} else {
			u.RawQuery = r.URL.RawQuery
		}
	}
	out := (&http.Request{
		Method:     r.Method,
		URL:        &u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     rt.outHeader(r, p, base),
		Host:       u.Host,
	}).WithContext(ctx)
	if body != nil {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.ContentLength = int64(len(body))
		b := body
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	var withoutCredential error // the connection error of a call sent on without a credential
	if c := rt.opts.Credentials; c != nil {
		cctx, credSpan := rt.childSpan(ctx, "upstream_credential", trace.SpanKindInternal)
		hdr, err := c.UpstreamHeaders(cctx, p, r)
		if err != nil && call.inputAction != "" {
			hdr, err = rt.awaitInput(cctx, r, call, c, err) // requeststate.go: the user may be connecting right now
		}
		var cd CredentialDeferrer
		if errors.As(err, &cd) && cd.DeferCredential() && call.NeedsNoCredential() {
			// Not connected or consented yet, but discovery and lists need no user
			// credential: the upstream gets the call without Authorization
			// (docs/upstream.md); a call that needs the credential still reports the error.
			rt.s.log.InfoContext(r.Context(), "upstream credential not available; call forwarded without it", "route", rt.opts.Name, "err", err)
			rec.Reasons = append(rec.Reasons, "sent_without_user_credential")
			withoutCredential = err
			hdr, err = nil, nil
		}
		if err != nil {
			credSpan.SetStatus(codes.Error, "no credential")
		}
		credSpan.End()
		if err != nil {
			rt.credentialError(w, r, rec, call, err)
			return
		}
		for k, vs := range hdr {
			out.Header[textproto.CanonicalMIMEHeaderKey(k)] = vs
		}
	}

	if st, ok := rt.opts.Observer.(Starter); ok && r.Method == http.MethodPost {
		st.Starting(ctx, rec) // audit's journal: on record before the upstream can act
	}
	uctx, upSpan := rt.childSpan(ctx, "upstream", trace.SpanKindClient)
	rt.injectTrace(uctx, out.Header)
	sent := time.Now()
	resp, err := rt.relayRoundTrip(w, r, out) // relay.go: a GET that may become a relayed SSE stream gets its own connection (h2c: a detachable context)
	rec.UpstreamLatency = time.Since(sent)
	if err != nil {
		upSpan.SetStatus(codes.Error, "upstream failed")
	} else {
		upSpan.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
	}
	upSpan.End()
	if err != nil {
		if r.Context().Err() != nil { // the client went away
			rec.Status, rec.Error = 499, "client closed the request"
			return
		}
		rt.upstreamError(w, rec, err)
		return
	}
	defer resp.Body.Close()
	rec.UpstreamStatus = resp.StatusCode
	if withoutCredential != nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		// The upstream wants a credential even for this call: ask the user to connect, as
		// for a call that needs one (never the upstream's challenge, which is not ours).
		rt.credentialError(w, r, rec, call, withoutCredential)
		return
	}
	if uc, ok := rt.opts.Credentials.(UpstreamChallenger); ok && withoutCredential == nil && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		if www := resp.Header.Get("Www-Authenticate"); www != "" {
			if cerr := uc.UpstreamChallenge(ctx, p, r, resp.StatusCode, www); cerr != nil {
				rt.credentialError(w, r, rec, call, cerr) // e.g. connect again with more scopes
				return
			}
		}
	}
	if !rt.trackSession(ctx, w, r, rec, resp) {
		return
	}

	h := w.Header()
	removeHopHeaders(resp.Header)
	rt.responseHeader(h, resp, rec, base) // headers.go: cookies, redirects and challenges filtered
	if resp.StatusCode == http.StatusUnauthorized {
		rt.upstreamChallenge(h, base)
	}
	ct := mediaType(resp.Header.Get("Content-Type"))
	isSSE := ct == "text/event-stream"
	rc := http.NewResponseController(w)
	// relay.go: an HTTP/1.1 SSE stream continues on the low-memory relay.
	if isSSE && rt.relay(w, r, rec, resp, rewrite) {
		return
	}

	if rewrite != nil && !isSSE && ct == "application/json" {
		rt.rewriteJSON(ctx, w, rc, rec, resp, rewrite)
		return
	}
	var idle *time.Timer
	if isSSE && rt.opts.StreamIdleTimeout > 0 {
		idle = time.AfterFunc(rt.opts.StreamIdleTimeout, cancel)
		defer idle.Stop()
	}
	if isSSE {
		h.Del("Content-Length")
		// Tell intermediaries (nginx) not to buffer the stream.
		if h.Get("X-Accel-Buffering") == "" {
			h.Set("X-Accel-Buffering", "no")
		}
	}
	rec.Status = resp.StatusCode
	w.WriteHeader(resp.StatusCode)
	if rewrite != nil && isSSE {
		rt.rewriteSSE(ctx, w, rc, rec, resp.Body, rewrite, idle)
		return
	}
	flush := isSSE || resp.ContentLength < 0
	if flush {
		_ = rc.Flush() // send the headers now: a stream may stay silent for a long time
	}
	pool := &copyBufs
	if isSSE {
		pool = &streamBufs
	}
	bp := pool.Get().(*[]byte)
	defer pool.Put(bp)
	buf := *bp
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			if idle != nil {
				idle.Reset(rt.opts.StreamIdleTimeout)
			}
			if _, werr := w.Write(buf[:n]); werr != nil {
				rec.Error = "writing to the client: " + werr.Error()
				return
			}
			if flush {
				if ferr := rc.Flush(); ferr != nil {
					return
				}
			}
		}
		if rerr != nil {
			if !errors.Is(rerr, io.EOF) {
				rt.streamEnded(rec, r, rerr)
				return
			}
			if !flush {
				// Send the whole response now: otherwise net/http writes its last bytes only
				// when the handler returns, after the access log line and the observer
				// (finish), and their time would count in the client's latency.
				_ = rc.Flush()
			}
			return
		}
	}
}

// credentialError answers a call whose upstream credential could not be obtained: as the
// error's CredentialError says, or 502 upstream_credential.
func (rt *route) credentialError(w http.ResponseWriter, r *http.Request, rec *Event, call *Call, err error) {
	rec.Decision = "upstream_credential_error"
	var ce CredentialError
	if !errors.As(err, &ce) {
		rt.s.log.ErrorContext(r.Context(), "upstream credential failed", "route", rt.opts.Name, "err", err)
		rt.jsonrpcError(w, rec, http.StatusBadGateway, rec.RequestID, "upstream_credential",
			"route "+quoteName(rt.opts.Name)+": mcpgate could not obtain a credential for the upstream MCP server; see the gateway log")
		return
	}
	if call.Header == nil {
		call.Header = r.Header.Clone()
		call.Header.Del("Authorization")
	}
	res := ce.GatewayResponse(call)
	reason := res.Reason
	if reason == "" {
		reason = "upstream_credential"
	}
	rec.Reasons = append(rec.Reasons, reason)
	rec.Error = res.Message
	rt.s.log.WarnContext(r.Context(), "upstream credential not available", "route", rt.opts.Name, "reason", reason, "err", err)
	var id json.RawMessage
	if len(call.Messages) == 1 {
		id = call.Messages[0].ID
	}
	if rt.askInput(w, r, rec, call, res.Input) { // requeststate.go: 2026-07-28 input-required result
		return
	}
	status := res.Status
	if status == 0 {
		status = http.StatusBadGateway
		if len(id) > 0 {
			status = http.StatusOK
		}
	}
	for k, vs := range res.Header {
		w.Header()[textproto.CanonicalMIMEHeaderKey(k)] = vs
	}
	rec.Status = status
	if res.Result != nil {
		writeRaw(w, status, mcp.ResultResponse(id, res.Result))
		return
	}
	e := res.Error
	if e == nil {
		e = &mcp.ErrorObject{Code: mcp.CodeServerError, Message: res.Message}
	}
	if e.Message == "" {
		e.Message = "route " + quoteName(rt.opts.Name) + ": mcpgate could not obtain a credential for the upstream MCP server"
	}
	writeRaw(w, status, mcp.ErrorResponse(id, e.Code, e.Message, e.Data))
}

// streamEnded records why a response stream ended early.
func (rt *route) streamEnded(rec *Event, r *http.Request, err error) {
	switch {
	case r.Context().Err() != nil:
		rec.Error = "client closed the stream"
	case rt.s.killCtx.Err() != nil:
		rec.Error = "stream closed by gateway shutdown"
	default:
		rec.Error = "upstream stream ended: " + err.Error()
	}
}

func (rt *route) upstreamError(w http.ResponseWriter, rec *Event, err error) {
	var ne net.Error
	timeout := errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
	var oe *net.OpError
	dial := errors.As(err, &oe) && oe.Op == "dial"
	rt.s.log.Error("upstream request failed", "route", rt.opts.Name, "upstream", rt.upstream.Redacted(), "err", err)
	name := quoteName(rt.opts.Name)
	switch {
	case timeout && dial:
		rt.jsonrpcError(w, rec, http.StatusGatewayTimeout, rec.RequestID, "upstream_connect_timeout",
			"route "+name+": could not connect to the upstream MCP server within "+rt.opts.ConnectTimeout.String())
	case timeout:
		rt.jsonrpcError(w, rec, http.StatusGatewayTimeout, rec.RequestID, "upstream_timeout",
			"route "+name+": the upstream MCP server did not respond within "+rt.opts.ResponseTimeout.String())
	case dial:
		rt.jsonrpcError(w, rec, http.StatusBadGateway, rec.RequestID, "upstream_unreachable",
			"route "+name+": the upstream MCP server is unreachable (connection failed); check that it is running")
	default:
		rt.jsonrpcError(w, rec, http.StatusBadGateway, rec.RequestID, "upstream_error",
			"route "+name+": the upstream MCP server failed to answer (the connection broke)")
	}
}

const maxRewriteBody = 64 << 20

func (rt *route) rewriteJSON(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, rec *Event, resp *http.Response, rewrite Rewriter) {
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxRewriteBody+1))
	if err != nil || len(b) > maxRewriteBody {
		rt.jsonrpcError(w, rec, http.StatusBadGateway, rec.RequestID, "upstream_error", "route "+quoteName(rt.opts.Name)+": could not read the upstream response")
		return
	}
	if len(bytes.TrimSpace(b)) > 0 {
		nb, err := rewrite(ctx, b)
		if err != nil {
			rt.s.log.ErrorContext(ctx, "rewriting response failed", "route", rt.opts.Name, "err", err)
			rt.jsonrpcError(w, rec, http.StatusBadGateway, rec.RequestID, "rewrite_failed", "route "+quoteName(rt.opts.Name)+": the response could not be processed")
			return
		}
		if nb != nil {
			b = nb
		}
	}
	w.Header().Set("Content-Length", itoa(len(b)))
	rec.Status = resp.StatusCode
	w.WriteHeader(resp.StatusCode)
	if _, err := w.Write(b); err == nil {
		_ = rc.Flush() // before finish's access log and observer (see proxy)
	}
}

func (rt *route) rewriteSSE(ctx context.Context, w http.ResponseWriter, rc *http.ResponseController, rec *Event, body io.Reader, rewrite Rewriter, idle *time.Timer) {
	_ = rc.Flush()
	sr := mcp.NewSSEReader(body, 0)
	var out []byte
	for {
		ev, err := sr.Next()
		if idle != nil {
			idle.Reset(rt.opts.StreamIdleTimeout)
		}
		if len(ev.Lines) > 0 {
			keep, ok := rt.rewriteEvent(ctx, rec, &ev, rewrite)
			if !ok {
				return
			}
			if !keep {
				if err != nil {
					return
				}
				continue
			}
			out = ev.AppendTo(out[:0])
			if _, werr := w.Write(out); werr != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && ctx.Err() == nil {
				rec.Error = "upstream stream: " + err.Error()
			}
			return
		}
	}
}

// rewriteEvent applies a response rewrite to one SSE event, the same way on every stream
// path (the proxy's and the relay's): only "message" events with data are rewritten, a nil
// result drops the event (keep false), and a rewrite error ends the stream (ok false, with
// the error logged and recorded).
func (rt *route) rewriteEvent(ctx context.Context, rec *Event, ev *mcp.Event, rewrite Rewriter) (keep, ok bool) {
	if !ev.HasData() || ev.Type() != "message" {
		return true, true
	}
	d := ev.Data()
	if strings.TrimSpace(d) == "" {
		return true, true
	}
	nd, err := rewrite(ctx, []byte(d))
	if err != nil {
		rt.s.log.ErrorContext(ctx, "rewriting event failed", "route", rt.opts.Name, "err", err)
		rec.Error = "rewrite failed: " + err.Error()
		return false, false
	}
	if nd == nil {
		return false, true
	}
	ev.SetData(string(nd))
	return true, true
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
