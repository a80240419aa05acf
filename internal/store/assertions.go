package store

import (
	"context"
	"fmt"
	"time"
)

// AssertionLog is implemented by every backend: it remembers the assertions (JWT
// authorization grants, RFC 7523) a token endpoint accepted, so that each one is accepted
// once across every replica on the same store. The authorization server uses it for the
// jti of Identity Assertion JWT Authorization Grants (ID-JAG).
type AssertionLog interface {
	// UseAssertion records id as used until expiresAt. It returns ErrAlreadyExists, and
	// records nothing, when id was recorded before and that record has not expired at now.
	// Concurrent calls with the same id, in this process or on other replicas, succeed for
	// exactly one caller. DeleteExpired removes records whose expiresAt is before now.
	UseAssertion(ctx context.Context, id string, expiresAt, now time.Time) error
}

var (
	_ AssertionLog = (*Memory)(nil)
	_ AssertionLog = (*SQL)(nil)
)

// UseAssertion implements AssertionLog.
func (m *Memory) UseAssertion(_ context.Context, id string, expiresAt, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.assertions == nil {
		m.assertions = map[string]time.Time{}
	}
	if exp, ok := m.assertions[id]; ok && exp.After(now) {
		return fmt.Errorf("assertion: %w", ErrAlreadyExists)
	}
	m.assertions[id] = expiresAt
	return nil
}

// deleteExpiredAssertions is DeleteExpired's part for the memory backend; m.mu is held.
func (m *Memory) deleteExpiredAssertions(now time.Time) int {
	n := 0
	for id, exp := range m.assertions {
		if expired(exp, now) {
			delete(m.assertions, id)
			n++
		}
	}
	return n
}

// UseAssertion implements AssertionLog with one statement: an insert that replaces only an
// expired row, so that the database decides which of several concurrent callers wins.
func (s *SQL) UseAssertion(ctx context.Context, id string, expiresAt, now time.Time) error {
	n, err := affected(s.exec(ctx, `INSERT INTO used_assertions (id, expires_at) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE used_assertions.expires_at <= ?`,
		id, ts(expiresAt), ts(now)))
	if err != nil {
		return fmt.Errorf("recording a used assertion: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("assertion: %w", ErrAlreadyExists)
	}
	return nil
}
