package mcpsession

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"sync"
	"time"
)

// Errors of Bind.
var (
	// ErrTaken: the session id is bound to another owner (an upstream that reuses ids).
	ErrTaken = errors.New("session id already bound to another principal")
	// ErrLimit: the user already holds the maximum number of sessions on the route.
	ErrLimit = errors.New("too many sessions for this user")
)

// Store holds the bindings. Owner and user are opaque keys (see Key); the store never
// sees a user id in clear.
type Store interface {
	// Owner returns the owner of a live session and refreshes its idle timer; ok is
	// false for a session that was never bound, ended or expired.
	Owner(ctx context.Context, route, id string) (owner string, ok bool, err error)
	// Bind records a new session for owner, counted for user; max > 0 caps the user's
	// live sessions on the route (ErrLimit). Binding the same id to the same owner again
	// only refreshes it; to another owner, ErrTaken.
	Bind(ctx context.Context, route, id, owner, user string, max int) error
	// Count is the number of live sessions of user on the route.
	Count(ctx context.Context, route, user string) (int, error)
	// Forget ends a binding (DELETE of the session).
	Forget(ctx context.Context, route, id string) error
}

// Key hashes the parts of an identity into an opaque key (SHA-256, 16 bytes, base64url):
// stores and logs hold no user id, and separators cannot be forged by the parts.
func Key(parts ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		l := len(p)
		for i := range n {
			n[i] = byte(l >> (8 * i))
		}
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// DefaultIdleTimeout ends a binding nobody used for this long.
const DefaultIdleTimeout = 8 * time.Hour

// Memory is a Store in this process.
type Memory struct {
	idle time.Duration
	now  func() time.Time

	mu     sync.Mutex
	byID   map[memKey]*binding
	byUser map[memKey]map[string]struct{} // (route, user) → session ids
	swept  time.Time                      // expired bindings are dropped at most once a minute
}

type memKey struct{ route, key string }

type binding struct {
	owner, user string
	used        time.Time
}

// NewMemory returns an empty Memory whose bindings expire after idle (0: the default).
func NewMemory(idle time.Duration) *Memory {
	if idle <= 0 {
		idle = DefaultIdleTimeout
	}
	return &Memory{idle: idle, now: time.Now, byID: map[memKey]*binding{}, byUser: map[memKey]map[string]struct{}{}}
}

// Owner implements Store.
func (m *Memory) Owner(_ context.Context, route, id string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.live(route, id)
	if b == nil {
		return "", false, nil
	}
	b.used = m.now()
	return b.owner, true, nil
}

// live returns the binding of id if it has not expired, dropping it if it has.
func (m *Memory) live(route, id string) *binding {
	k := memKey{route, id}
	b := m.byID[k]
	if b == nil {
		return nil
	}
	if m.now().Sub(b.used) >= m.idle {
		m.drop(k, b)
		return nil
	}
	return b
}

func (m *Memory) drop(k memKey, b *binding) {
	delete(m.byID, k)
	uk := memKey{k.route, b.user}
	if set := m.byUser[uk]; set != nil {
		delete(set, k.key)
		if len(set) == 0 {
			delete(m.byUser, uk)
		}
	}
}

// count counts the user's live sessions, dropping expired ones.
func (m *Memory) count(route, user string) int {
	n := 0
	for id := range m.byUser[memKey{route, user}] {
		if m.live(route, id) != nil {
			n++
		}
	}
	return n
}

// Bind implements Store.
func (m *Memory) Bind(_ context.Context, route, id, owner, user string, max int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b := m.live(route, id); b != nil {
		if b.owner != owner {
			return ErrTaken
		}
		b.used = m.now()
		return nil
	}
	if max > 0 && m.count(route, user) >= max {
		return ErrLimit
	}
	m.sweep()
	m.byID[memKey{route, id}] = &binding{owner: owner, user: user, used: m.now()}
	uk := memKey{route, user}
	if m.byUser[uk] == nil {
		m.byUser[uk] = map[string]struct{}{}
	}
	m.byUser[uk][id] = struct{}{}
	return nil
}

// sweep drops expired bindings that nobody asked about again (a client that vanished
// without DELETE), so that memory follows the live sessions.
func (m *Memory) sweep() {
	now := m.now()
	if now.Sub(m.swept) < min(m.idle, time.Minute) {
		return
	}
	m.swept = now
	for k, b := range m.byID {
		if now.Sub(b.used) >= m.idle {
			m.drop(k, b)
		}
	}
}

// Len is the number of bindings held (live or not yet swept).
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byID)
}

// Count implements Store.
func (m *Memory) Count(_ context.Context, route, user string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.count(route, user), nil
}

// Forget implements Store.
func (m *Memory) Forget(_ context.Context, route, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := memKey{route, id}
	if b := m.byID[k]; b != nil {
		m.drop(k, b)
	}
	return nil
}

// Interface guards.
var (
	_ Store = (*Memory)(nil)
	_ Store = (*Redis)(nil)
)
