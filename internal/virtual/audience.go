package virtual

import (
	"context"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Who hears a notification. The Go SDK server sends a list_changed notification to every
// client session, and notifications/resources/updated to every session subscribed to the
// URI. A virtual server's upstream sessions each belong to one user, so what one user's upstream
// session reports concerns that user's client sessions only (a shared stdio process's,
// everyone's). The virtual server marks the sessions a notification is for before the SDK
// sends it, and a sending middleware lets it through only to a marked session, once.

// audience knows the user of each live client session and the marks.
type audience struct {
	mu      sync.Mutex
	users   map[*mcp.ServerSession]string
	pending map[string]map[*mcp.ServerSession]bool // mark key → sessions to tell once
}

// markKey is a list_changed notification's method, or a resources/updated notification's
// method and URI.
func markKey(method, uri string) string {
	if uri == "" {
		return method
	}
	return method + "\x00" + uri
}

// seen records ss as user's client session; it reports whether ss is new (the caller then
// watches it end, see forget).
func (a *audience) seen(ss *mcp.ServerSession, user string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.users[ss]; ok {
		return false
	}
	if a.users == nil {
		a.users = map[*mcp.ServerSession]string{}
	}
	a.users[ss] = user
	return true
}

// forget drops an ended session and its marks.
func (a *audience) forget(ss *mcp.ServerSession) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.users, ss)
	for k, m := range a.pending {
		delete(m, ss)
		if len(m) == 0 {
			delete(a.pending, k)
		}
	}
}

// markUser marks the sessions of user ("" for every session) for key.
func (a *audience) markUser(key, user string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for ss, u := range a.users {
		if user == "" || u == user {
			a.markLocked(key, ss)
		}
	}
}

// mark marks the given sessions for key.
func (a *audience) mark(key string, sessions []*mcp.ServerSession) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ss := range sessions {
		a.markLocked(key, ss)
	}
}

func (a *audience) markLocked(key string, ss *mcp.ServerSession) {
	if a.pending == nil {
		a.pending = map[string]map[*mcp.ServerSession]bool{}
	}
	if a.pending[key] == nil {
		a.pending[key] = map[*mcp.ServerSession]bool{}
	}
	a.pending[key][ss] = true
}

// unmark drops the marks of key the sessions did not use.
func (a *audience) unmark(key string, sessions []*mcp.ServerSession) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ss := range sessions {
		delete(a.pending[key], ss)
	}
	if len(a.pending[key]) == 0 {
		delete(a.pending, key)
	}
}

// take reports whether ss is marked for key, and uses the mark.
func (a *audience) take(key string, ss *mcp.ServerSession) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	m := a.pending[key]
	if !m[ss] {
		return false
	}
	delete(m, ss)
	if len(m) == 0 {
		delete(a.pending, key)
	}
	return true
}

// addressed is the sending middleware: list_changed and resources/updated notifications
// reach only the sessions marked for them; everything else passes.
func (s *Server) addressed(next mcp.MethodHandler) mcp.MethodHandler {
	return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
		var key string
		switch method {
		case "notifications/tools/list_changed", "notifications/prompts/list_changed", "notifications/resources/list_changed":
			key = markKey(method, "")
		case "notifications/resources/updated":
			p, _ := req.GetParams().(*mcp.ResourceUpdatedNotificationParams)
			if p == nil {
				return nil, nil
			}
			key = markKey(method, p.URI)
		default:
			return next(ctx, method, req)
		}
		ss, _ := req.GetSession().(*mcp.ServerSession)
		if ss == nil || !s.audience.take(key, ss) {
			return nil, nil // not this session's change
		}
		return next(ctx, method, req)
	}
}

// noteSession records the user of the client session a request came on: a stateful
// session (2025-11-25), or the session of a 2026-07-28 subscriptions/listen stream
// (other 2026-07-28 requests have a session of their own that never hears a notification).
func (s *Server) noteSession(req mcp.Request) {
	ss, _ := req.GetSession().(*mcp.ServerSession)
	if ss == nil {
		return
	}
	if _, listen := req.(*mcp.SubscriptionsListenRequest); ss.ID() == "" && !listen {
		return
	}
	if !s.audience.seen(ss, userKey(callerOf(req.GetExtra()))) {
		return
	}
	id := ss.ID()
	go func() {
		_ = ss.Wait()
		s.audience.forget(ss)
		s.unsubscribeSession(ss)
		s.closeClientSession(id) // its upstream sessions end with it (sessions.go)
	}()
}
