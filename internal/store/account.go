package store

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// defaultSignInLimit bounds ListSignIns when the caller gives no limit.
const defaultSignInLimit = 100

// ListConsents implements Store.
func (m *Memory) ListConsents(_ context.Context, userID string) ([]Consent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	var out []Consent
	for k, c := range m.consents {
		if k[0] == userID && !expired(c.ExpiresAt, now) {
			out = append(out, clone(c))
		}
	}
	slices.SortFunc(out, func(a, b Consent) int { return strings.Compare(a.ClientID, b.ClientID) })
	return out, nil
}

// ListSignIns implements Store.
func (m *Memory) ListSignIns(_ context.Context, userID string, limit int) ([]RefreshToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	var out []RefreshToken
	for _, t := range m.refresh {
		if (userID == "" || t.UserID == userID) && t.UsedAt.IsZero() && !t.Revoked && !expired(t.ExpiresAt, now) {
			out = append(out, clone(t))
		}
	}
	slices.SortFunc(out, func(a, b RefreshToken) int {
		return cmp.Or(b.ExpiresAt.Compare(a.ExpiresAt), strings.Compare(a.ID, b.ID))
	})
	if limit <= 0 {
		limit = defaultSignInLimit
	}
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// RetireSigningKey implements Store.
func (m *Memory) RetireSigningKey(_ context.Context, id string, retireAt, expiresAt time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[id]
	if !ok {
		return nf("signing key")
	}
	k.RetireAt, k.ExpiresAt = retireAt, expiresAt
	m.keys[id] = k
	return nil
}

// ListConsents implements Store.
func (s *SQL) ListConsents(ctx context.Context, userID string) ([]Consent, error) {
	return listDocs[Consent](ctx, s, "consents", `SELECT data FROM consents WHERE user_id = ? AND (expires_at = 0 OR expires_at > ?) ORDER BY client_id`, userID, nowNS())
}

// ListSignIns implements Store.
func (s *SQL) ListSignIns(ctx context.Context, userID string, limit int) ([]RefreshToken, error) {
	if limit <= 0 {
		limit = defaultSignInLimit
	}
	q := `SELECT data FROM refresh_tokens WHERE used_at = 0 AND revoked = 0 AND expires_at > ?`
	args := []any{nowNS()}
	if userID != "" {
		q += ` AND user_id = ?`
		args = append(args, userID)
	}
	q += fmt.Sprintf(` ORDER BY expires_at DESC, id LIMIT %d`, limit)
	return listDocs[RefreshToken](ctx, s, "sign-ins", q, args...)
}

// RetireSigningKey implements Store.
func (s *SQL) RetireSigningKey(ctx context.Context, id string, retireAt, expiresAt time.Time) error {
	k, _, err := getDoc[SigningKey](ctx, s, "signing key", `SELECT data, 0 FROM signing_keys WHERE id = ?`, id)
	if err != nil {
		return err
	}
	k.RetireAt, k.ExpiresAt = retireAt, expiresAt
	n, err := affected(s.exec(ctx, `UPDATE signing_keys SET expires_at = ?, data = ? WHERE id = ?`, ts(expiresAt), mustJSON(k), id))
	return notFoundIfNone("signing key", n, err)
}

// SetClientDisabled implements Store.
func (m *Memory) SetClientDisabled(_ context.Context, id string, disabled bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clients[id]
	if !ok || expired(c.ExpiresAt, time.Now()) {
		return nf("client")
	}
	c.Disabled = disabled
	m.clients[id] = c
	return nil
}

// SetClientDisabled implements Store.
func (s *SQL) SetClientDisabled(ctx context.Context, id string, disabled bool) error {
	c, err := s.GetClient(ctx, id)
	if err != nil {
		return err
	}
	c.Disabled = disabled
	n, err := affected(s.exec(ctx, `UPDATE clients SET data = ? WHERE id = ?`, mustJSON(c), id))
	return notFoundIfNone("client", n, err)
}
