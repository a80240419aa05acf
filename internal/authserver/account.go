package authserver

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/mcpgate/mcpgate/internal/store"
)

// This file is what the "My account" pages and the admin console change: a user's grants
// to applications, their sign-ins, the browser session, and the signing keys. Each
// revocation goes through the same code as the token endpoints (refresh tokens, then the
// access tokens they produced, announced to every replica).

// RevokeGrant takes back what the user allowed the client: the consent (the next
// sign-in asks again), every refresh token of the user for the client, and the access
// tokens they produced. It returns how many refresh and access tokens it revoked.
func (s *Server) RevokeGrant(ctx context.Context, userID, clientID string) (refresh, access int, err error) {
	if err := s.store.DeleteConsent(ctx, userID, clientID); err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, 0, fmt.Errorf("deleting the consent: %w", err)
	}
	if refresh, err = s.store.RevokeUserClient(ctx, userID, clientID); err != nil {
		return 0, 0, fmt.Errorf("revoking the refresh tokens: %w", err)
	}
	if access, err = s.revokeUserClient(ctx, userID, clientID); err != nil {
		return refresh, 0, fmt.Errorf("revoking the access tokens: %w", err)
	}
	s.log.InfoContext(ctx, "grant revoked", "sub", userID, "client_id", clientID, "revoked_refresh_tokens", refresh, "revoked_access_tokens", access)
	return refresh, access, nil
}

// maxSignOut bounds how many sign-ins one "sign out everywhere" revokes.
const maxSignOut = 1000

// RevokeSignIns ends the user's sign-ins at every application (each live refresh-token
// family and its access tokens); with familyID set, only that one, and only if it is the
// user's (store.ErrNotFound otherwise). It returns how many sign-ins it ended.
func (s *Server) RevokeSignIns(ctx context.Context, userID, familyID string) (int, error) {
	live, err := s.store.ListSignIns(ctx, userID, maxSignOut)
	if err != nil {
		return 0, fmt.Errorf("listing the sign-ins: %w", err)
	}
	if familyID != "" {
		live = slices.DeleteFunc(live, func(t store.RefreshToken) bool { return t.FamilyID != familyID })
		if len(live) == 0 {
			return 0, fmt.Errorf("sign-in: %w", store.ErrNotFound)
		}
	}
	for _, t := range live {
		s.revokeFamily(ctx, t.FamilyID)
	}
	s.log.InfoContext(ctx, "sign-ins ended", "sub", userID, "sign_ins", len(live))
	return len(live), nil
}

// EndBrowserSession signs this browser out of the authorization server (its session
// cookie).
func (s *Server) EndBrowserSession(w http.ResponseWriter) { s.clearCookie(w, sessionCookie) }

// EndBrowserSessions signs the user out of the authorization server in every browser: this
// one's cookie is cleared (w may be nil when the user is not the one asking), and every
// replica refuses the user's browser sessions that began before now (pages.go).
func (s *Server) EndBrowserSessions(ctx context.Context, w http.ResponseWriter, userID string) error {
	if w != nil {
		s.EndBrowserSession(w)
	}
	bs, ok := s.store.(store.BrowserSignOuts)
	if !ok {
		return fmt.Errorf("the store does not record browser sign-outs")
	}
	now := s.opts.Now()
	if err := bs.SignOutBrowsers(ctx, userID, now, now.Add(s.opts.SessionLifetime)); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "signed out of every browser", "sub", userID)
	return nil
}

// KeyInfo describes a signing key for the admin console; never the key itself.
type KeyInfo struct {
	ID, Algorithm                  string
	CreatedAt, RetireAt, ExpiresAt time.Time
	// State is signing (signs new tokens), next (published, signs after the current one
	// retires), retired (only verifies tokens it signed) or unreadable.
	State string
}

// SigningKeys lists the published signing keys, newest first.
func (s *Server) SigningKeys(ctx context.Context) ([]KeyInfo, error) {
	keys, err := s.store.ListSigningKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing signing keys: %w", err)
	}
	now := s.opts.Now()
	cur, _ := s.keys.signing(ctx)
	out := make([]KeyInfo, 0, len(keys))
	for _, k := range keys {
		ki := KeyInfo{ID: k.ID, Algorithm: k.Algorithm, CreatedAt: k.CreatedAt, RetireAt: k.RetireAt, ExpiresAt: k.ExpiresAt}
		switch {
		case !parsable(k.PKCS8):
			ki.State = "unreadable"
		case k.ID == cur.meta.ID:
			ki.State = "signing"
		case k.RetireAt.After(now) && k.Algorithm == string(s.keys.alg):
			ki.State = "next"
		default:
			ki.State = "retired"
		}
		out = append(out, ki)
	}
	slices.SortFunc(out, func(a, b KeyInfo) int { return b.CreatedAt.Compare(a.CreatedAt) })
	return out, nil
}

func parsable(der []byte) bool {
	_, err := x509.ParsePKCS8PrivateKey(der)
	return err == nil
}

// RotateSigningKeys starts a rotation now rather than at the planned time: every key
// that would still sign after the key overlap retires at now + overlap, and a new key is
// created and published at once; it signs once the overlap has passed (verifiers that
// cache the key set see it first). Retired keys stay published until the tokens they
// signed expired. It returns the new key.
func (s *Server) RotateSigningKeys(ctx context.Context) (KeyInfo, error) {
	m := s.keys
	now := m.now()
	keys, err := s.store.ListSigningKeys(ctx)
	if err != nil {
		return KeyInfo{}, fmt.Errorf("listing signing keys: %w", err)
	}
	retire := now.Add(m.overlap)
	for _, k := range keys {
		if k.Algorithm == string(m.alg) && k.RetireAt.After(retire) {
			if err := s.store.RetireSigningKey(ctx, k.ID, retire, retire.Add(m.keepAfter)); err != nil {
				return KeyInfo{}, fmt.Errorf("retiring signing key %s: %w", k.ID, err)
			}
		}
	}
	loaded, err := m.load(ctx, true) // no key signs after the overlap any more: load creates one
	if err != nil {
		return KeyInfo{}, err
	}
	var newest store.SigningKey
	for _, k := range loaded {
		if k.meta.CreatedAt.After(newest.CreatedAt) || newest.ID == "" {
			newest = k.meta
		}
	}
	s.log.InfoContext(ctx, "signing keys rotated", "kid", newest.ID, "previous_retire_at", retire)
	return KeyInfo{ID: newest.ID, Algorithm: newest.Algorithm, CreatedAt: newest.CreatedAt, RetireAt: newest.RetireAt, ExpiresAt: newest.ExpiresAt, State: "next"}, nil
}

// RemoveSigningKey deletes a signing key at once (after a leak): it leaves the published
// key set, so every token it signed stops verifying once verifiers fetch the key set again.
// When it was the key signing, the next key signs right away, or a new one is created (no
// overlap: a verifier meeting an unknown key ID fetches the key set again). Other replicas
// drop the key at their next reload (30 seconds at most).
func (s *Server) RemoveSigningKey(ctx context.Context, id string) error {
	if err := s.store.DeleteSigningKey(ctx, id); err != nil {
		return fmt.Errorf("deleting signing key %s: %w", id, err)
	}
	if _, err := s.keys.load(ctx, true); err != nil {
		return err
	}
	s.log.WarnContext(ctx, "signing key removed: the tokens it signed no longer verify", "kid", id)
	return nil
}
