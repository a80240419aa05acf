package upstream

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"
)

// Connection status values.
const (
	StatusActive = "active"
	// StatusBroken: the third party refused the refresh token (invalid_grant: revoked,
	// expired, rotated elsewhere). The user must connect again; mcpgate does not retry.
	StatusBroken = "broken"
)

// StoredConnection is one user's link to one connection provider, as stored. Token
// material is only in Sealed (internal/secrets, bound to subject and provider).
type StoredConnection struct {
	Subject  string
	Provider string
	// Version increases by one on every write; CompareAndSwapConnection checks it.
	Version int64
	Status  string
	// Reason says why a connection is broken (a stable code such as invalid_grant).
	Reason string
	// Sealed is the sealed token set (access, refresh, scope).
	Sealed string
	// Scope granted by the third party (not secret; shown on the connections page).
	Scope string
	// ExpiresAt is when the access token expires (zero: unknown).
	ExpiresAt time.Time
	// LeaseUntil is set while one replica refreshes: others wait for it instead of
	// refreshing too (a rotating refresh token may only be used once).
	LeaseUntil time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// ErrNotFound is returned when there is no connection.
var ErrNotFound = errors.New("upstream: connection not found")

// ErrConflict is returned by CompareAndSwapConnection when the stored version is not the
// expected one (another writer won).
var ErrConflict = errors.New("upstream: connection changed concurrently")

// ConnectionStore persists connections. Implementations must make
// CompareAndSwapConnection atomic across every replica sharing the store (a conditional
// UPDATE ... WHERE version = ? in SQL).
type ConnectionStore interface {
	// GetConnection returns the connection or ErrNotFound.
	GetConnection(ctx context.Context, subject, provider string) (StoredConnection, error)
	// CompareAndSwapConnection writes c if the stored version equals oldVersion (0: the
	// connection must not exist). c.Version must be oldVersion+1. ErrConflict otherwise.
	CompareAndSwapConnection(ctx context.Context, oldVersion int64, c StoredConnection) error
	// DeleteConnection removes the connection (no error if absent).
	DeleteConnection(ctx context.Context, subject, provider string) error
	// ListConnections returns the subject's connections, ordered by provider.
	ListConnections(ctx context.Context, subject string) ([]StoredConnection, error)
}

// MemoryConnectionStore is an in-process ConnectionStore (tests, single replica).
type MemoryConnectionStore struct {
	mu sync.Mutex
	m  map[[2]string]StoredConnection
}

// NewMemoryConnectionStore returns an empty store.
func NewMemoryConnectionStore() *MemoryConnectionStore {
	return &MemoryConnectionStore{m: map[[2]string]StoredConnection{}}
}

// GetConnection implements ConnectionStore.
func (s *MemoryConnectionStore) GetConnection(_ context.Context, subject, provider string) (StoredConnection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.m[[2]string{subject, provider}]
	if !ok {
		return StoredConnection{}, ErrNotFound
	}
	return c, nil
}

// CompareAndSwapConnection implements ConnectionStore.
func (s *MemoryConnectionStore) CompareAndSwapConnection(_ context.Context, oldVersion int64, c StoredConnection) error {
	if c.Version != oldVersion+1 {
		return errors.New("upstream: new version must be old version + 1")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{c.Subject, c.Provider}
	cur, ok := s.m[k]
	if (!ok && oldVersion != 0) || (ok && cur.Version != oldVersion) {
		return ErrConflict
	}
	s.m[k] = c
	return nil
}

// DeleteConnection implements ConnectionStore.
func (s *MemoryConnectionStore) DeleteConnection(_ context.Context, subject, provider string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, [2]string{subject, provider})
	return nil
}

// ListConnections implements ConnectionStore.
func (s *MemoryConnectionStore) ListConnections(_ context.Context, subject string) ([]StoredConnection, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []StoredConnection
	for k, c := range s.m {
		if k[0] == subject {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Provider < out[j].Provider })
	return out, nil
}
