package virtual

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/gateway"
)

// MetaUnavailable is the _meta key of a list result that names the upstreams which
// could not be listed: [{"upstream": name, "error": short reason}]. Details are logged.
const MetaUnavailable = "io.mcpgate/unavailable"

const callerExtra = "mcpgate.caller"

// codeRejected is the go-sdk's own error for a request its transport could not deliver
// (jsonrpc2.ErrRejected): a failure to reach the upstream, not the upstream's answer.
const codeRejected = -32005

// clientSessionTimeout forgets a client's session with the virtual server after this long
// unused: the gateway's own default binding lifetime (limits.sessionIdleTimeout), so that
// neither outlives the other by default.
const clientSessionTimeout = 8 * time.Hour

// Server is a virtual MCP server. Create it with New, serve Handler, end it with Close.
type Server struct {
	o       Options
	log     *slog.Logger
	ups     []*Upstream
	mcp     *mcp.Server
	handler http.Handler

	mu       sync.Mutex
	conns    map[connKey]*conn
	procs    map[string]int // live stdio processes per upstream
	failures map[connKey]*failure
	indexes  map[string]*index
	closed   bool

	notifyMu sync.Mutex // one list-change notification at a time (listchanged.go)
	audience audience   // who hears a notification (audience.go)

	subMu sync.Mutex // guards subs (subscriptions.go)
	subs  map[subKey]*subscription

	progress sync.Map // upstream progress token → progressTarget
	nextTok  atomic.Int64
	stop     chan struct{}
	reaped   chan struct{}
}

type progressTarget struct {
	ctx   context.Context // the client's request: notifications go on its stream
	ss    *mcp.ServerSession
	token any
}

// New validates o and returns a virtual server; nothing is connected until a user asks.
func New(o Options) (*Server, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	s := &Server{o: o, log: o.Logger, conns: map[connKey]*conn{}, procs: map[string]int{}, failures: map[connKey]*failure{},
		indexes: map[string]*index{}, stop: make(chan struct{}), reaped: make(chan struct{})}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("route", o.Route)
	for i := range o.Upstreams {
		u := o.Upstreams[i]
		if u.MaxProcesses <= 0 {
			u.MaxProcesses = DefaultMaxProcesses
		}
		if u.ConnectTimeout <= 0 {
			u.ConnectTimeout = DefaultConnectTimeout
		}
		if u.CallTimeout <= 0 {
			u.CallTimeout = DefaultCallTimeout
		}
		if u.MaxLineBytes <= 0 {
			u.MaxLineBytes = DefaultMaxLineBytes
		}
		if u.MaxOutputRate == 0 {
			u.MaxOutputRate = DefaultMaxOutputRate
		}
		s.ups = append(s.ups, &u)
	}
	s.mcp = mcp.NewServer(&mcp.Implementation{Name: "mcpgate-virtual-" + o.Route, Version: "1"}, &mcp.ServerOptions{
		Capabilities: &mcp.ServerCapabilities{
			Tools:     &mcp.ToolCapabilities{ListChanged: true},
			Prompts:   &mcp.PromptCapabilities{ListChanged: true},
			Resources: &mcp.ResourceCapabilities{ListChanged: true, Subscribe: true},
		},
		SubscribeHandler:   s.subscribe,
		UnsubscribeHandler: s.unsubscribe,
	})
	s.mcp.AddReceivingMiddleware(s.dispatch)
	s.mcp.AddSendingMiddleware(s.addressed)
	sdk := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.mcp },
		&mcp.StreamableHTTPOptions{DisableLocalhostProtection: true, Logger: s.log, SessionTimeout: clientSessionTimeout})
	// The SDK hands the caller to handlers as TokenInfo (and binds its sessions to the
	// user); the gateway authenticated the request already, so the "token" is internal.
	verify := func(ctx context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
		c, ok := gateway.CallerFromContext(r.Context())
		if !ok {
			return nil, fmt.Errorf("%w: not called through the gateway", auth.ErrInvalidToken)
		}
		return &auth.TokenInfo{UserID: userKey(c), Extra: map[string]any{callerExtra: c}}, nil
	}
	// 2026-07-28 requests are stateless (no Mcp-Session-Id; each carries its version in
	// _meta and the MCP-Protocol-Version header, which the gateway checked against each
	// other): a stateless handler of the same server answers them, on the user's own
	// upstream sessions (sessions.go).
	stateless := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.mcp },
		&mcp.StreamableHTTPOptions{DisableLocalhostProtection: true, Logger: s.log, Stateless: true, PropagateRequestCancellation: true})
	bearer := auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})
	mw, mwStateless := bearer(sdk), bearer(stateless)
	s.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Header.Set("Authorization", "Bearer in-process")
		if r.Header.Get("MCP-Protocol-Version") >= statelessVersion && r.Header.Get("Mcp-Session-Id") == "" {
			mwStateless.ServeHTTP(w, r)
			return
		}
		mw.ServeHTTP(w, r)
	})
	go s.reap()
	return s, nil
}

// statelessVersion is the first MCP version without sessions (YYYY-MM-DD versions order as
// strings).
const statelessVersion = "2026-07-28"

// Handler serves the virtual server; mount it as gateway.RouteOptions.Handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Close ends every upstream session and stdio process. Safe to call more than once.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := s.conns
	s.conns = map[connKey]*conn{}
	s.mu.Unlock()
	close(s.stop)
	<-s.reaped
	for _, c := range conns {
		c.close()
	}
	return nil
}

// userKey identifies a user across tokens: issuer and subject ("" when anonymous).
func userKey(c *gateway.Caller) string {
	if c == nil || c.Principal == nil {
		return ""
	}
	return c.Principal.Issuer + "\x00" + c.Principal.Subject
}

func callerOf(extra *mcp.RequestExtra) *gateway.Caller {
	if extra == nil || extra.TokenInfo == nil {
		return nil
	}
	c, _ := extra.TokenInfo.Extra[callerExtra].(*gateway.Caller)
	return c
}

// dispatch answers the list, call, get and read methods from the upstreams; everything
// else (initialize, ping, logging, subscriptions through the handlers of
// subscriptions.go) is the SDK server's own.
func (s *Server) dispatch(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		s.noteSession(req)
		ctx = withClientSession(ctx, req)
		switch r := req.(type) {
		case *mcp.SubscribeRequest, *mcp.SubscriptionsListenRequest:
			ctx = withCaller(ctx, r)
		case *mcp.ListToolsRequest:
			res, err := s.list(ctx, callerOf(r.Extra), method)
			if err != nil {
				return nil, err
			}
			return &mcp.ListToolsResult{Tools: res.tools, Meta: res.meta()}, nil
		case *mcp.ListPromptsRequest:
			res, err := s.list(ctx, callerOf(r.Extra), method)
			if err != nil {
				return nil, err
			}
			return &mcp.ListPromptsResult{Prompts: res.prompts, Meta: res.meta()}, nil
		case *mcp.ListResourcesRequest:
			res, err := s.list(ctx, callerOf(r.Extra), method)
			if err != nil {
				return nil, err
			}
			return &mcp.ListResourcesResult{Resources: res.resources, Meta: res.meta()}, nil
		case *mcp.ListResourceTemplatesRequest:
			res, err := s.list(ctx, callerOf(r.Extra), method)
			if err != nil {
				return nil, err
			}
			return &mcp.ListResourceTemplatesResult{ResourceTemplates: res.templates, Meta: res.meta()}, nil
		case *mcp.CallToolRequest:
			return s.callTool(ctx, r)
		case *mcp.GetPromptRequest:
			return s.getPrompt(ctx, r)
		case *mcp.ReadResourceRequest:
			return s.readResource(ctx, r)
		}
		res, err := next(ctx, method, req)
		if dr, ok := res.(*mcp.DiscoverResult); ok && err == nil && method == "server/discover" {
			s.discover(ctx, callerOf(req.GetExtra()), dr)
		}
		return res, err
	}
}

// list merges the upstreams' lists; an upstream whose account the user is required to
// link answers the list with its prompt instead of being left out.
func (s *Server) list(ctx context.Context, c *gateway.Caller, method string) (*merged, error) {
	m, _ := s.listAll(ctx, c)
	for _, u := range s.ups {
		err, failed := m.failed[u]
		var rl requiredLink
		if failed && errors.As(err, &rl) && rl.RequiredLink() {
			return nil, s.upstreamError(ctx, u, c, method, err)
		}
	}
	return m, nil
}

// reach finds the upstream that serves a call (find, by the client-visible name), records
// it for audit and opens the user's session with it, held while the user links an account
// they just accepted to link. A nil session means the call is answered with res and err:
// unknown (an invalid-params error saying unknown), the gateway's input request, or the
// failure.
func (s *Server) reach(ctx context.Context, c *gateway.Caller, method, name, unknown string,
	find func(*index) (target, bool)) (t target, cs *mcp.ClientSession, done func(), res mcp.Result, err error) {
	t, err = s.resolve(ctx, c, name, find)
	if errors.Is(err, errNotFound) || err != nil && method == "resources/read" {
		return t, nil, nil, nil, &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: unknown}
	}
	if err != nil {
		if res, ok := inputResult(method, err); ok {
			return t, nil, nil, res, nil
		}
		return t, nil, nil, nil, err
	}
	if c != nil {
		c.SetUpstream(t.up.Name) // audit records which upstream answered
	}
	if cs, done, err = s.sessionAwaiting(ctx, t.up, c); err != nil {
		res, err = s.failure(ctx, t.up, c, method, err)
		return t, nil, nil, res, err
	}
	return t, cs, done, nil, nil
}

// failure answers a call the upstream could not serve: as a tool error result or the
// gateway's input request when upstreamError chose one, else as the error.
func (s *Server) failure(ctx context.Context, up *Upstream, c *gateway.Caller, method string, err error) (mcp.Result, error) {
	err = s.upstreamError(ctx, up, c, method, err)
	var te *toolErrorResult
	if errors.As(err, &te) {
		return te.res, nil
	}
	if res, ok := inputResult(method, err); ok {
		return res, nil
	}
	return nil, err
}

func (s *Server) callTool(ctx context.Context, r *mcp.CallToolRequest) (mcp.Result, error) {
	c := callerOf(r.Extra)
	t, cs, done, res, err := s.reach(ctx, c, "tools/call", r.Params.Name, fmt.Sprintf("unknown tool %q", r.Params.Name),
		func(ix *index) (target, bool) { t, ok := ix.tools[r.Params.Name]; return t, ok })
	if cs == nil {
		return res, err
	}
	defer done()
	p := &mcp.CallToolParams{Name: t.real, Arguments: r.Params.Arguments, Meta: upstreamMeta(r.Params.Meta)}
	if tok := r.Params.GetProgressToken(); tok != nil {
		up := fmt.Sprintf("mcpgate-%d", s.nextTok.Add(1))
		s.progress.Store(up, progressTarget{ctx: ctx, ss: r.Session, token: tok})
		defer s.progress.Delete(up)
		p.Meta = cloneMeta(p.Meta)
		p.SetProgressToken(up)
	}
	cctx, cancel := context.WithTimeout(ctx, t.up.CallTimeout)
	defer cancel()
	out, err := cs.CallTool(cctx, p)
	if err != nil {
		return s.failure(ctx, t.up, c, "tools/call", err)
	}
	return out, nil
}

func (s *Server) getPrompt(ctx context.Context, r *mcp.GetPromptRequest) (mcp.Result, error) {
	c := callerOf(r.Extra)
	t, cs, done, res, err := s.reach(ctx, c, "prompts/get", r.Params.Name, fmt.Sprintf("unknown prompt %q", r.Params.Name),
		func(ix *index) (target, bool) { t, ok := ix.prompts[r.Params.Name]; return t, ok })
	if cs == nil {
		return res, err
	}
	defer done()
	cctx, cancel := context.WithTimeout(ctx, t.up.CallTimeout)
	defer cancel()
	out, err := cs.GetPrompt(cctx, &mcp.GetPromptParams{Name: t.real, Arguments: r.Params.Arguments, Meta: upstreamMeta(r.Params.Meta)})
	if err != nil {
		return nil, s.upstreamError(ctx, t.up, c, "prompts/get", err)
	}
	return out, nil
}

func (s *Server) readResource(ctx context.Context, r *mcp.ReadResourceRequest) (mcp.Result, error) {
	c := callerOf(r.Extra)
	t, cs, done, res, err := s.reach(ctx, c, "resources/read", "", fmt.Sprintf("no upstream serves resource %q", r.Params.URI),
		func(ix *index) (target, bool) { return ix.resource(r.Params.URI) })
	if cs == nil {
		return res, err
	}
	defer done()
	cctx, cancel := context.WithTimeout(ctx, t.up.CallTimeout)
	defer cancel()
	out, err := cs.ReadResource(cctx, &mcp.ReadResourceParams{URI: r.Params.URI, Meta: upstreamMeta(r.Params.Meta)})
	if err != nil {
		return nil, s.upstreamError(ctx, t.up, c, "resources/read", err)
	}
	return out, nil
}

// upstreamError passes an upstream's own JSON-RPC error on as it is and turns anything
// else (connection refused, process crashed, timeout) into an internal error naming the
// upstream; the detail goes to the log only.
func (s *Server) upstreamError(ctx context.Context, u *Upstream, c *gateway.Caller, method string, err error) error {
	var ce gateway.CredentialError
	if errors.As(err, &ce) {
		return s.credentialAnswer(ctx, u, c, method, ce)
	}
	var we *jsonrpc.Error
	if errors.As(err, &we) && we.Code != codeRejected {
		return we // the upstream's own answer
	}
	s.log.ErrorContext(ctx, "virtual server: upstream failed", "upstream", u.Name, "method", method, "err", err)
	msg := fmt.Sprintf("upstream %q failed (%s); see the gateway log", u.Name, kindOf(err))
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: msg}
}

func kindOf(err error) string {
	var se *startError
	var ce gateway.CredentialError
	switch {
	case errors.As(err, &ce):
		return "no credential for this user"
	case errors.Is(err, errBackoff):
		return "restarting after a failure"
	case errors.As(err, &se):
		return "its command could not be started"
	case errors.Is(err, errTooManyProcesses):
		return "too many processes"
	case errors.Is(err, errOutputTooLong):
		return errOutputTooLong.Error()
	case errors.Is(err, context.DeadlineExceeded):
		return "timed out"
	case errors.Is(err, mcp.ErrConnectionClosed), strings.Contains(err.Error(), "connection closed"):
		return "connection closed"
	}
	return "unavailable"
}

func cloneMeta(m mcp.Meta) mcp.Meta {
	out := mcp.Meta{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// onProgress forwards an upstream's progress notification to the client session whose
// call it belongs to, under the client's own token.
func (s *Server) onProgress(ctx context.Context, r *mcp.ProgressNotificationClientRequest) {
	key := fmt.Sprint(r.Params.ProgressToken)
	v, ok := s.progress.Load(key)
	if !ok {
		return
	}
	t := v.(progressTarget)
	p := *r.Params
	p.ProgressToken = t.token
	if err := t.ss.NotifyProgress(t.ctx, &p); err != nil {
		s.log.DebugContext(ctx, "virtual server: forwarding progress", "err", err)
	}
}
