package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// BrowserSignOuts is implemented by every backend: it remembers when each user signed out
// of every browser ("Sign out everywhere"), so that every replica refuses the sign-in-page
// sessions (signed cookies, not stored) that began before. The authorization server uses it.
type BrowserSignOuts interface {
	// SignOutBrowsers records that the user's browser sessions which began before at are
	// over. A later time replaces an earlier one, never the reverse. The record is kept
	// until expiresAt (the longest a browser session lasts); DeleteExpired removes it then.
	SignOutBrowsers(ctx context.Context, userID string, at, expiresAt time.Time) error
	// BrowsersSignedOutAt returns the time recorded for the user (zero when none, or when
	// the record expired at now).
	BrowsersSignedOutAt(ctx context.Context, userID string, now time.Time) (time.Time, error)
}

var (
	_ BrowserSignOuts = (*Memory)(nil)
	_ BrowserSignOuts = (*SQL)(nil)
)

type signOut struct{ at, expiresAt time.Time }

// SignOutBrowsers implements BrowserSignOuts.
func (m *Memory) SignOutBrowsers(_ context.Context, userID string, at, expiresAt time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.signOuts == nil {
		m.signOuts = map[string]signOut{}
	}
	old := m.signOuts[userID] // the zero record when there is none
	m.signOuts[userID] = signOut{at: laterOf(at, old.at), expiresAt: laterOf(expiresAt, old.expiresAt)}
	return nil
}

func laterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// BrowsersSignedOutAt implements BrowserSignOuts.
func (m *Memory) BrowsersSignedOutAt(_ context.Context, userID string, now time.Time) (time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	so, ok := m.signOuts[userID]
	if !ok || expired(so.expiresAt, now) {
		return time.Time{}, nil
	}
	return so.at, nil
}

// deleteExpiredSignOuts is DeleteExpired's part for the memory backend; m.mu is held.
func (m *Memory) deleteExpiredSignOuts(now time.Time) int {
	n := 0
	for id, so := range m.signOuts {
		if expired(so.expiresAt, now) {
			delete(m.signOuts, id)
			n++
		}
	}
	return n
}

// SignOutBrowsers implements BrowserSignOuts with one statement, so that concurrent
// sign-outs on several replicas keep the latest time.
func (s *SQL) SignOutBrowsers(ctx context.Context, userID string, at, expiresAt time.Time) error {
	_, err := s.exec(ctx, `INSERT INTO browser_signouts (user_id, signed_out_at, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (user_id) DO UPDATE SET
			signed_out_at = CASE WHEN excluded.signed_out_at > browser_signouts.signed_out_at THEN excluded.signed_out_at ELSE browser_signouts.signed_out_at END,
			expires_at = CASE WHEN excluded.expires_at > browser_signouts.expires_at THEN excluded.expires_at ELSE browser_signouts.expires_at END`,
		userID, ts(at), ts(expiresAt))
	if err != nil {
		return fmt.Errorf("recording a browser sign-out: %w", err)
	}
	return nil
}

// BrowsersSignedOutAt implements BrowserSignOuts.
func (s *SQL) BrowsersSignedOutAt(ctx context.Context, userID string, now time.Time) (time.Time, error) {
	var at int64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT signed_out_at FROM browser_signouts WHERE user_id = ? AND expires_at > ?`), userID, ts(now)).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("reading a browser sign-out: %w", err)
	}
	return time.Unix(0, at), nil
}
