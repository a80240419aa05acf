package virtual

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/gateway"
)

// Resource subscriptions. A client's resources/subscribe (2025-11-25), or each URI of the
// resourceSubscriptions of its subscriptions/listen (2026-07-28, which the SDK server
// turns into subscribes and, when the stream ends, unsubscribes), goes to the upstream
// that serves the URI, on the user's own upstream session: once per upstream session and
// URI, however many of the user's client sessions subscribe; the last unsubscribe (or the
// end of the last subscribed client session) unsubscribes upstream. The upstream's
// notifications/resources/updated reaches the client sessions that subscribed through
// that upstream session, not another user's (audience.go). A subscription holds its
// upstream session open (the reaper closes only idle ones); when the upstream session ends
// anyway (its process crashed, the upstream restarted), the virtual server connects again
// with backoff, subscribes again and tells the subscribers their resources may have
// changed, since updates may have been missed meanwhile.
//
// Which resources a user may subscribe to is the gateway's policy (resources/subscribe is
// decided like resources/read; on a listen stream, updates about resources the user may
// not read are dropped), and the upstream sees the user's own credential.

type subKey struct {
	ss  *mcp.ServerSession
	uri string
}

// subscription is one client session's subscription to one resource.
type subscription struct {
	c    *conn
	done func() // releases the hold on the upstream session
}

type callerKey struct{}

// withCaller keeps the caller in the context of a subscribe that the SDK server makes
// from a subscriptions/listen request (its own SubscribeRequest carries no Extra).
func withCaller(ctx context.Context, req mcp.Request) context.Context {
	if c := callerOf(req.GetExtra()); c != nil {
		return context.WithValue(ctx, callerKey{}, c)
	}
	return ctx
}

func callerFromContext(ctx context.Context, req mcp.Request) *gateway.Caller {
	if c := callerOf(req.GetExtra()); c != nil {
		return c
	}
	c, _ := ctx.Value(callerKey{}).(*gateway.Caller)
	return c
}

// subscribe is the SDK server's SubscribeHandler.
func (s *Server) subscribe(ctx context.Context, r *mcp.SubscribeRequest) error {
	if r.Params == nil || r.Params.URI == "" {
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: "resources/subscribe needs params.uri"}
	}
	uri, c := r.Params.URI, callerFromContext(ctx, r)
	key := subKey{r.Session, uri}
	s.subMu.Lock()
	_, dup := s.subs[key]
	s.subMu.Unlock()
	if dup {
		return nil // subscribed already: subscribing again changes nothing
	}
	t, err := s.resolve(ctx, c, "", func(ix *index) (target, bool) { return ix.resource(uri) })
	if err != nil {
		return &jsonrpc.Error{Code: jsonrpc.CodeInvalidParams, Message: fmt.Sprintf("no upstream serves resource %q", uri)}
	}
	cn, cs, done, err := s.hold(ctx, t.up, c)
	if err != nil {
		return s.upstreamError(ctx, t.up, c, "resources/subscribe", err)
	}
	cn.subMu.Lock()
	defer cn.subMu.Unlock()
	if len(cn.subscribers[uri]) == 0 {
		cctx, cancel := context.WithTimeout(ctx, t.up.CallTimeout)
		err := cs.Subscribe(cctx, &mcp.SubscribeParams{URI: uri})
		cancel()
		if err != nil {
			done()
			return s.upstreamError(ctx, t.up, c, "resources/subscribe", err)
		}
	}
	s.subMu.Lock()
	if _, dup := s.subs[key]; dup { // a concurrent subscribe of the same session won
		s.subMu.Unlock()
		done()
		return nil
	}
	if s.subs == nil {
		s.subs = map[subKey]*subscription{}
	}
	s.subs[key] = &subscription{c: cn, done: done}
	s.subMu.Unlock()
	if cn.subscribers == nil {
		cn.subscribers = map[string]map[*mcp.ServerSession]bool{}
	}
	if cn.subscribers[uri] == nil {
		cn.subscribers[uri] = map[*mcp.ServerSession]bool{}
	}
	cn.subscribers[uri][r.Session] = true
	s.log.DebugContext(ctx, "virtual server: resource subscribed", "upstream", t.up.Name, "uri", uri)
	return nil
}

// unsubscribe is the SDK server's UnsubscribeHandler.
func (s *Server) unsubscribe(ctx context.Context, r *mcp.UnsubscribeRequest) error {
	if r.Params == nil {
		return nil
	}
	s.release(ctx, subKey{r.Session, r.Params.URI})
	return nil
}

// unsubscribeSession ends the subscriptions of a client session that ended.
func (s *Server) unsubscribeSession(ss *mcp.ServerSession) {
	s.subMu.Lock()
	var keys []subKey
	for k := range s.subs {
		if k.ss == ss {
			keys = append(keys, k)
		}
	}
	s.subMu.Unlock()
	for _, k := range keys {
		s.release(context.Background(), k)
	}
}

// release ends one client session's subscription; the last subscriber of a URI on an
// upstream session unsubscribes upstream.
func (s *Server) release(ctx context.Context, key subKey) {
	s.subMu.Lock()
	sub := s.subs[key]
	delete(s.subs, key)
	s.subMu.Unlock()
	if sub == nil {
		return
	}
	defer sub.done()
	cn := sub.c
	cn.subMu.Lock()
	defer cn.subMu.Unlock()
	delete(cn.subscribers[key.uri], key.ss)
	if len(cn.subscribers[key.uri]) > 0 {
		return
	}
	delete(cn.subscribers, key.uri)
	cn.mu.Lock()
	cs := cn.cs
	cn.mu.Unlock()
	if cs == nil {
		return // the upstream session ended: nothing to unsubscribe
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cn.up.CallTimeout)
	defer cancel()
	if err := cs.Unsubscribe(cctx, &mcp.UnsubscribeParams{URI: key.uri}); err != nil {
		s.log.DebugContext(ctx, "virtual server: unsubscribing upstream", "upstream", cn.up.Name, "err", err)
	}
}

// resourceUpdated passes an upstream's notifications/resources/updated on to the client
// sessions subscribed through that upstream session.
func (s *Server) resourceUpdated(ctx context.Context, cn *conn, uri string) {
	cn.subMu.Lock()
	targets := slices.Collect(maps.Keys(cn.subscribers[uri]))
	cn.subMu.Unlock()
	s.tellUpdated(ctx, uri, targets)
}

func (s *Server) tellUpdated(ctx context.Context, uri string, targets []*mcp.ServerSession) {
	if len(targets) == 0 {
		return
	}
	key := markKey("notifications/resources/updated", uri)
	s.audience.mark(key, targets)
	defer s.audience.unmark(key, targets) // the SDK sends at once: drop the marks it did not use
	if err := s.mcp.ResourceUpdated(ctx, &mcp.ResourceUpdatedNotificationParams{URI: uri}); err != nil {
		s.log.DebugContext(ctx, "virtual server: forwarding resource update", "err", err)
	}
}

// resubscribeLater starts, when the ended upstream session c had subscriptions, a loop
// that connects again with backoff and subscribes again.
func (s *Server) resubscribeLater(k connKey, cn *conn) {
	cn.subMu.Lock()
	defer cn.subMu.Unlock()
	if len(cn.subscribers) == 0 || cn.resubbing {
		return
	}
	cn.resubbing = true
	go s.resubscribe(k, cn)
}

func (s *Server) resubscribe(k connKey, cn *conn) {
	delay := backoffMin
	for {
		select {
		case <-s.stop:
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, backoffMax)
		cn.subMu.Lock()
		if len(cn.subscribers) == 0 {
			cn.resubbing = false
			cn.subMu.Unlock()
			return
		}
		cs, err := s.ensure(context.Background(), k, cn)
		if err != nil {
			cn.subMu.Unlock()
			s.log.Warn("virtual server: reconnecting for resource subscriptions", "upstream", cn.up.Name, "err", err)
			continue
		}
		var again []string
		for uri := range cn.subscribers {
			cctx, cancel := context.WithTimeout(context.Background(), cn.up.CallTimeout)
			if err := cs.Subscribe(cctx, &mcp.SubscribeParams{URI: uri}); err != nil {
				s.log.Warn("virtual server: subscribing again", "upstream", cn.up.Name, "uri", uri, "err", err)
			} else {
				again = append(again, uri)
			}
			cancel()
		}
		targets := map[string][]*mcp.ServerSession{}
		for _, uri := range again {
			targets[uri] = slices.Collect(maps.Keys(cn.subscribers[uri]))
		}
		cn.resubbing = false // from here, another end of the session starts another loop
		cn.subMu.Unlock()
		s.log.Info("virtual server: upstream session reconnected; resource subscriptions renewed", "upstream", cn.up.Name, "resources", len(again))
		for uri, ts := range targets {
			s.tellUpdated(context.Background(), uri, ts)
		}
		return
	}
}
