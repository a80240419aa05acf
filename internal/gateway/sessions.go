package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/mcpsession"
)

// Sessions and streams of one route: who owns each Mcp-Session-Id, and how many sessions
// and open streams each user holds.
//
// An Mcp-Session-Id is a bearer handle: the upstream serves whoever presents it. The
// gateway binds each id the upstream hands out at initialize to the principal that asked
// (issuer, subject and client), and answers a request carrying an id bound to anyone else,
// or an id it never saw bound, with 404 as if the session did not exist (MCP tells a
// client to start a new session on 404).

// Defaults of the per-route caps.
const (
	defaultMaxSessionsPerUser = 100
	defaultMaxStreamsPerUser  = 32
	defaultMaxStreams         = 10_000
)

// sessionKeys are the binding owner (user and client) and the user the caps count
// against, hashed on first use. An anonymous caller (optional/permissive routes) is
// counted by address, and owns its sessions together with every other anonymous caller.
type sessionKeys struct {
	p           *authn.Principal
	rec         *Event
	own, usr    string
	initialized bool
}

func (k *sessionKeys) compute() {
	if k.initialized {
		return
	}
	k.initialized = true
	if k.p == nil {
		k.own, k.usr = mcpsession.Key("anonymous"), mcpsession.Key("anonymous", k.rec.RemoteIP.String())
		return
	}
	k.own, k.usr = mcpsession.Key(k.p.Issuer, k.p.Subject, k.p.ClientID), mcpsession.Key(k.p.Issuer, k.p.Subject)
}

func (k *sessionKeys) owner() string { k.compute(); return k.own }
func (k *sessionKeys) user() string  { k.compute(); return k.usr }

// checkSession refuses a request whose session id is not bound to its principal. It
// returns false when it has answered.
func (rt *route) checkSession(w http.ResponseWriter, r *http.Request, rec *Event, owner string) bool {
	got, ok, err := rt.s.sessions.Owner(r.Context(), rt.opts.Name, rec.SessionID)
	switch {
	case err != nil:
		rt.s.log.ErrorContext(r.Context(), "session store unavailable", "route", rt.opts.Name, "err", err)
		rec.Reasons = append(rec.Reasons, "session_store_unavailable")
		rt.jsonrpcError(w, rec, http.StatusServiceUnavailable, nil, "session_store_unavailable",
			"route "+quoteName(rt.opts.Name)+": the gateway cannot check this session right now; retry shortly")
		return false
	case !ok:
		rec.Reasons = append(rec.Reasons, "session_unknown")
	case got != owner:
		rec.Reasons = append(rec.Reasons, "session_not_owned")
		rt.s.log.WarnContext(r.Context(), "session id presented by another principal", "route", rt.opts.Name, "method", r.Method)
	default:
		return true
	}
	rt.jsonrpcError(w, rec, http.StatusNotFound, nil, "session_not_found",
		"route "+quoteName(rt.opts.Name)+": session not found: it ended or expired; start a new session (initialize without Mcp-Session-Id)")
	return false
}

// admitSession refuses an initialize that would exceed the user's session cap.
func (rt *route) admitSession(w http.ResponseWriter, r *http.Request, rec *Event, user string) bool {
	n, err := rt.s.sessions.Count(r.Context(), rt.opts.Name, user)
	if err != nil {
		return true // Bind enforces the cap again, and fails closed
	}
	if n < rt.opts.MaxSessionsPerUser {
		return true
	}
	rt.sessionLimit(w, rec)
	return false
}

func (rt *route) sessionLimit(w http.ResponseWriter, rec *Event) {
	rec.Reasons = append(rec.Reasons, "session_limit")
	rt.jsonrpcError(w, rec, http.StatusTooManyRequests, rec.RequestID, "session_limit",
		"route "+quoteName(rt.opts.Name)+": you already have "+strconv.Itoa(rt.opts.MaxSessionsPerUser)+
			" open sessions here (limits.maxSessionsPerUser); close one (DELETE) or wait until an idle one expires")
}

// bindSession records the session an upstream just created for this request's principal.
// It returns false, having answered, when the id cannot be bound.
func (rt *route) bindSession(ctx context.Context, w http.ResponseWriter, rec *Event, id, owner, user string) bool {
	err := rt.s.sessions.Bind(ctx, rt.opts.Name, id, owner, user, rt.opts.MaxSessionsPerUser)
	switch {
	case err == nil:
		return true
	case errors.Is(err, mcpsession.ErrLimit):
		rt.sessionLimit(w, rec)
	case errors.Is(err, mcpsession.ErrTaken):
		rt.s.log.ErrorContext(ctx, "upstream handed out a session id already bound to another principal", "route", rt.opts.Name)
		rt.jsonrpcError(w, rec, http.StatusBadGateway, rec.RequestID, "session_conflict",
			"route "+quoteName(rt.opts.Name)+": the upstream MCP server returned a session id that belongs to another user; the session was refused")
	default:
		rt.s.log.ErrorContext(ctx, "session store unavailable", "route", rt.opts.Name, "err", err)
		rt.jsonrpcError(w, rec, http.StatusServiceUnavailable, rec.RequestID, "session_store_unavailable",
			"route "+quoteName(rt.opts.Name)+": the gateway could not record the new session; retry shortly")
	}
	return false
}

// streamCaps counts a route's open GET streams, in total and per user (per replica).
type streamCaps struct {
	mu     sync.Mutex
	total  int
	byUser map[string]int
}

// acquire takes a stream slot for user; release gives it back. ok is false, with which
// cap was hit, when the route or the user is at its limit.
func (rt *route) acquireStream(user string) (release func(), perUser, ok bool) {
	c := &rt.streams
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.total >= rt.opts.MaxStreams {
		return nil, false, false
	}
	if c.byUser[user] >= rt.opts.MaxStreamsPerUser {
		return nil, true, false
	}
	c.total++
	c.byUser[user]++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			c.total--
			if c.byUser[user]--; c.byUser[user] <= 0 {
				delete(c.byUser, user)
			}
		})
	}, false, true
}

func (rt *route) streamLimit(w http.ResponseWriter, rec *Event, perUser bool) {
	rec.Reasons = append(rec.Reasons, "stream_limit")
	msg := "route " + quoteName(rt.opts.Name) + ": you already have " + strconv.Itoa(rt.opts.MaxStreamsPerUser) +
		" open streams here (limits.maxStreamsPerUser); close one first"
	if !perUser {
		msg = "route " + quoteName(rt.opts.Name) + ": the route has its maximum of " + strconv.Itoa(rt.opts.MaxStreams) +
			" open streams (limits.maxStreams); retry later"
	}
	w.Header().Set("Retry-After", "5")
	rt.jsonrpcError(w, rec, http.StatusTooManyRequests, nil, "stream_limit", msg)
}

// trackSession follows the session through the upstream's answer: a new Mcp-Session-Id
// given to a request without one is bound to its caller; a session the upstream ended
// (DELETE answered, or 404) is forgotten. It returns false, having answered, when the
// new session cannot be bound.
func (rt *route) trackSession(ctx context.Context, w http.ResponseWriter, r *http.Request, rec *Event, resp *http.Response) bool {
	if rec.SessionID == "" {
		id := resp.Header.Get("Mcp-Session-Id")
		if id == "" || r.Method != http.MethodPost {
			return true
		}
		return rt.bindSession(ctx, w, rec, id, rec.keys.owner(), rec.keys.user())
	}
	if (r.Method == http.MethodDelete && resp.StatusCode < 300) || resp.StatusCode == http.StatusNotFound {
		if err := rt.s.sessions.Forget(ctx, rt.opts.Name, rec.SessionID); err != nil {
			rt.s.log.WarnContext(ctx, "forgetting an ended session failed", "route", rt.opts.Name, "err", err)
		}
	}
	return true
}

// OpenStreams returns the number of open GET streams of each route, by route name.
func (s *Server) OpenStreams() map[string]int {
	out := make(map[string]int, len(s.routes))
	for _, rt := range s.routes {
		rt.streams.mu.Lock()
		out[rt.opts.Name] = rt.streams.total
		rt.streams.mu.Unlock()
	}
	return out
}
