package virtual

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/gateway"
)

// connKey names one upstream client session: the user's key ("" for a shared stdio
// process), the upstream's name, and for an HTTP upstream the client's own session with
// the virtual server when it has one (2025-11-25): each client session gets its own
// upstream session, created on first use and closed when the client session ends. Stateless
// (2026-07-28) requests, which have no session, share the user's; a stdio process is the
// user's (or everyone's) whatever the client session.
type connKey struct{ user, upstream, session string }

type clientSessionKey struct{}

// withClientSession keeps the id of the client's session with the virtual server in ctx.
func withClientSession(ctx context.Context, req mcp.Request) context.Context {
	if ss, _ := req.GetSession().(*mcp.ServerSession); ss != nil && ss.ID() != "" {
		return context.WithValue(ctx, clientSessionKey{}, ss.ID())
	}
	return ctx
}

// closeClientSession closes the upstream sessions that belonged to an ended client
// session.
func (s *Server) closeClientSession(id string) {
	if id == "" {
		return
	}
	var ended []*conn
	s.mu.Lock()
	for k, c := range s.conns {
		if k.session == id {
			delete(s.conns, k)
			ended = append(ended, c)
		}
	}
	s.mu.Unlock()
	for _, c := range ended {
		c.close()
	}
}

// conn is one upstream client session, connected on first use.
type conn struct {
	up       *Upstream
	caller   atomic.Pointer[gateway.Caller] // the latest caller, for credentials
	lastUsed atomic.Int64
	inflight atomic.Int32

	mu      sync.Mutex // serializes connecting
	cs      *mcp.ClientSession
	process bool // counted in Server.procs

	// subscribers are the client sessions subscribed to each resource through this
	// session (subscriptions.go); guarded by subMu, which also orders the upstream's
	// subscribe and unsubscribe calls.
	subMu       sync.Mutex
	subscribers map[string]map[*mcp.ServerSession]bool
	resubbing   bool // a resubscribe loop runs
}

func (c *conn) touch() { c.lastUsed.Store(time.Now().UnixNano()) }

func (c *conn) close() {
	c.mu.Lock()
	cs := c.cs
	c.cs = nil
	c.mu.Unlock()
	if cs != nil {
		_ = cs.Close()
	}
}

var (
	errTooManyProcesses = errors.New("too many processes")
	errBackoff          = errors.New("restarting after a failure")
)

// Restart backoff of a stdio command that failed to start or to initialize: 1s, doubled
// at each failure in a row, up to 30s, so that a broken command is not started again on
// every request.
const (
	backoffMin = time.Second
	backoffMax = 30 * time.Second
)

// failure is a stdio command's run of failed starts.
type failure struct {
	n     int
	until time.Time
	err   error
}

// backingOff returns an error while k's command is waiting to be started again.
func (s *Server) backingOff(k connKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.failures[k]; f != nil && time.Now().Before(f.until) {
		return fmt.Errorf("%w (next try in %s): %w", errBackoff, time.Until(f.until).Round(time.Millisecond), f.err)
	}
	return nil
}

// noteStart records how starting k's stdio command went.
func (s *Server) noteStart(k connKey, u *Upstream, err error) {
	if !u.stdio() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		delete(s.failures, k)
		return
	}
	f := s.failures[k]
	if f == nil {
		f = &failure{}
		s.failures[k] = f
	}
	f.n++
	f.err = err
	f.until = time.Now().Add(min(backoffMin<<min(f.n-1, 5), backoffMax))
}

// session returns the caller's client session with u, connecting it first if needed.
// done must be called when the request ends (an idle session in use is never closed).
func (s *Server) session(ctx context.Context, u *Upstream, caller *gateway.Caller) (*mcp.ClientSession, func(), error) {
	_, cs, done, err := s.hold(ctx, u, caller)
	return cs, done, err
}

// hold is session that also returns the conn the session belongs to.
func (s *Server) hold(ctx context.Context, u *Upstream, caller *gateway.Caller) (*conn, *mcp.ClientSession, func(), error) {
	k := connKey{user: userKey(caller), upstream: u.Name}
	switch {
	case u.Shared:
		k.user = ""
	case !u.stdio():
		k.session, _ = ctx.Value(clientSessionKey{}).(string)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, nil, errors.New("virtual server closed")
	}
	c := s.conns[k]
	if c == nil {
		c = &conn{up: u}
		s.conns[k] = c
	}
	c.inflight.Add(1)
	s.mu.Unlock()
	c.caller.Store(caller)
	c.touch()
	done := func() { c.touch(); c.inflight.Add(-1) }
	cs, err := s.ensure(ctx, k, c)
	if err != nil {
		done()
		return nil, nil, nil, err
	}
	return c, cs, done, nil
}

// ensure returns c's client session, connecting it first if needed.
func (s *Server) ensure(ctx context.Context, k connKey, c *conn) (*mcp.ClientSession, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cs != nil {
		return c.cs, nil
	}
	if err := s.backingOff(k); err != nil {
		return nil, err
	}
	cs, err := s.connect(ctx, k, c)
	s.noteStart(k, c.up, err)
	if err != nil {
		return nil, err
	}
	c.cs = cs
	go func() {
		_ = cs.Wait() // the process exited or the session was closed
		s.ended(k, c, cs)
	}()
	return cs, nil
}

// ended forgets a session that ended (closed idle, process exited, upstream gone), so
// that the next request connects again: an upstream recovers without a restart.
func (s *Server) ended(k connKey, c *conn, cs *mcp.ClientSession) {
	c.mu.Lock()
	if c.cs == cs {
		c.cs = nil
	}
	c.mu.Unlock()
	s.mu.Lock()
	if c.process {
		c.process = false
		s.procs[k.upstream]--
	}
	if s.conns[k] == c && c.inflight.Load() == 0 {
		delete(s.conns, k)
	}
	closed := s.closed
	s.mu.Unlock()
	if !closed {
		s.resubscribeLater(k, c) // the upstream forgot its subscriptions (subscriptions.go)
	}
}

func (s *Server) connect(ctx context.Context, k connKey, c *conn) (*mcp.ClientSession, error) {
	u := c.up
	co := &mcp.ClientOptions{ProgressNotificationHandler: s.onProgress}
	s.clientHandlers(k, c, co)
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpgate", Version: "virtual"}, co)
	// A fresh context: the upstream session outlives this request, and must not inherit
	// what the SDK keeps in the client request's context (its protocol version).
	cctx, cancel := context.WithTimeout(context.Background(), u.ConnectTimeout)
	defer cancel()
	if !u.stdio() {
		hc := u.HTTPClient
		if hc == nil {
			d := &net.Dialer{Timeout: u.ConnectTimeout}
			hc = &http.Client{Transport: &http.Transport{DialContext: d.DialContext, ResponseHeaderTimeout: u.CallTimeout}}
		}
		hc = &http.Client{Transport: &credentialTransport{base: transportOf(hc), c: c}, Timeout: hc.Timeout}
		return client.Connect(cctx, &mcp.StreamableClientTransport{Endpoint: u.URL, HTTPClient: hc, MaxRetries: 1}, nil)
	}

	s.mu.Lock()
	if s.procs[u.Name] >= u.MaxProcesses {
		s.mu.Unlock()
		s.log.WarnContext(ctx, "virtual server: stdio upstream at its process limit", "upstream", u.Name, "max", u.MaxProcesses)
		return nil, fmt.Errorf("upstream %q: %w (%d)", u.Name, errTooManyProcesses, u.MaxProcesses)
	}
	s.procs[u.Name]++
	c.process = true
	s.mu.Unlock()
	cs, err := client.Connect(cctx, s.command(u, c.caller.Load()), nil)
	if err != nil {
		s.mu.Lock()
		c.process = false
		s.procs[u.Name]--
		s.mu.Unlock()
		return nil, err
	}
	return cs, nil
}

func transportOf(hc *http.Client) http.RoundTripper {
	if hc.Transport != nil {
		return hc.Transport
	}
	return http.DefaultTransport
}

// credentialTransport sets the caller's upstream credential on every request to an HTTP
// upstream, from the route's provider for this upstream.
type credentialTransport struct {
	base http.RoundTripper
	c    *conn
}

func (t *credentialTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	creds := t.c.up.Credentials
	if creds == nil {
		return t.base.RoundTrip(r)
	}
	caller := t.c.caller.Load()
	var in *http.Request
	var p = callerPrincipal(caller)
	if caller != nil {
		in = caller.Request
	}
	if in == nil {
		in = &http.Request{Header: http.Header{}}
	}
	hdr, err := creds.UpstreamHeaders(r.Context(), p, in)
	if err != nil {
		return nil, fmt.Errorf("upstream %q: obtaining its credential: %w", t.c.up.Name, err)
	}
	r = r.Clone(r.Context())
	for k, vs := range hdr {
		r.Header[textproto.CanonicalMIMEHeaderKey(k)] = vs
	}
	resp, err := t.base.RoundTrip(r)
	if err != nil || (resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden) {
		return resp, err
	}
	// The upstream refused the credential: its own challenge may mean something the
	// user can fix (connect again, grant more scopes), which the provider says.
	ch, ok := creds.(gateway.UpstreamChallenger)
	www := resp.Header.Get("Www-Authenticate")
	if !ok || www == "" {
		return resp, nil
	}
	if cerr := ch.UpstreamChallenge(r.Context(), p, in, resp.StatusCode, www); cerr != nil {
		resp.Body.Close()
		return nil, fmt.Errorf("upstream %q refused the credential (HTTP %d): %w", t.c.up.Name, resp.StatusCode, cerr)
	}
	return resp, nil
}

// reap closes sessions unused for IdleTimeout (stopping their processes).
func (s *Server) reap() {
	defer close(s.reaped)
	every := max(s.o.IdleTimeout/4, 100*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		cutoff := time.Now().Add(-s.o.IdleTimeout).UnixNano()
		var idle []*conn
		s.mu.Lock()
		for k, c := range s.conns {
			if c.inflight.Load() == 0 && c.lastUsed.Load() < cutoff {
				delete(s.conns, k)
				idle = append(idle, c)
			}
		}
		for k, f := range s.failures {
			if time.Since(f.until) > backoffMax {
				delete(s.failures, k)
			}
		}
		live := map[string]bool{}
		for k := range s.conns {
			live[k.user] = true
		}
		for user := range s.indexes { // a user with no session left lists again first
			if !live[user] {
				delete(s.indexes, user)
			}
		}
		s.mu.Unlock()
		for _, c := range idle {
			s.log.Debug("virtual server: closing idle upstream session", "upstream", c.up.Name)
			c.close()
		}
	}
}

// Processes reports the live stdio processes of an upstream (for tests and metrics).
func (s *Server) Processes(upstream string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.procs[upstream]
}
