package authserver

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/mcpgate/mcpgate/internal/store"
)

// keyManager keeps the signing keys: persisted in the store, cached in memory, rotated
// every rotation period. A new key is published overlap before it starts signing (so
// verifiers that cache the JWKS see it first), and an old key stays published until every
// token it signed has expired.
type keyManager struct {
	store     store.Store
	alg       jose.SignatureAlgorithm
	rotation  time.Duration
	overlap   time.Duration
	keepAfter time.Duration // after retirement: max token lifetime + overlap
	now       func() time.Time
	log       logger

	mu        sync.Mutex
	keys      []loadedKey
	refreshAt time.Time
	// While the store fails, the keys loaded last keep being used (see load).
	failingSince, lastWarn time.Time
}

// keyRetry is how soon a failed reload is retried while the loaded keys are kept.
const keyRetry = 5 * time.Second

type logger interface {
	Info(msg string, args ...any)
	Warn(msg string, args ...any)
}

type loadedKey struct {
	meta store.SigningKey
	priv crypto.Signer
}

func (k loadedKey) SignatureAlgorithm() jose.SignatureAlgorithm {
	return jose.SignatureAlgorithm(k.meta.Algorithm)
}
func (k loadedKey) Key() any   { return k.priv }
func (k loadedKey) ID() string { return k.meta.ID }

// publicKey implements op.Key.
type publicKey struct{ loadedKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return k.SignatureAlgorithm() }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.priv.Public() }

func generateKey(alg jose.SignatureAlgorithm) (crypto.Signer, error) {
	switch alg {
	case jose.ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.RS256:
		return rsa.GenerateKey(rand.Reader, 2048)
	default:
		return nil, fmt.Errorf("signing algorithm %s is not supported (use ES256 or RS256)", alg)
	}
}

// load reads the keys from the store (at most every 30s, or when forced) and creates a
// new one when no key will still be signing after the overlap. When a periodic reload
// fails, the keys loaded before are kept (a database blip must not stop token checks and
// issuance): the reload is retried every keyRetry and a warning is logged at most once a
// minute. Key rotation is planned a key overlap (default 1h) ahead, so keeping the loaded
// keys through an outage shorter than that changes nothing.
func (m *keyManager) load(ctx context.Context, force bool) ([]loadedKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if !force && len(m.keys) > 0 && now.Before(m.refreshAt) {
		return m.keys, nil
	}
	metas, err := m.store.ListSigningKeys(ctx)
	if err != nil && !force && len(m.keys) > 0 {
		if m.failingSince.IsZero() {
			m.failingSince = time.Now()
		}
		if time.Since(m.lastWarn) >= time.Minute {
			m.lastWarn = time.Now()
			m.log.Warn("signing keys: the store is unreachable; keeping the keys loaded before", "failing_since", m.failingSince.UTC().Format(time.RFC3339), "keys", len(m.keys), "err", err)
		}
		m.refreshAt = now.Add(keyRetry)
		return m.keys, nil
	}
	if err != nil {
		return nil, fmt.Errorf("loading signing keys: %w", err)
	}
	if !m.failingSince.IsZero() {
		m.log.Info("signing keys: the store is reachable again", "unreachable_for", time.Since(m.failingSince).Round(time.Millisecond))
		m.failingSince = time.Time{}
	}
	need := true
	for _, k := range metas {
		if k.Algorithm == string(m.alg) && k.RetireAt.After(now.Add(m.overlap)) {
			need = false
		}
	}
	if need {
		priv, err := generateKey(m.alg)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(priv)
		if err != nil {
			return nil, err
		}
		id := make([]byte, 8)
		rand.Read(id)
		k := store.SigningKey{ID: hex.EncodeToString(id), Algorithm: string(m.alg), PKCS8: der, CreatedAt: now,
			RetireAt: now.Add(m.rotation), ExpiresAt: now.Add(m.rotation + m.keepAfter)}
		if err := m.store.CreateSigningKey(ctx, k); err != nil {
			return nil, fmt.Errorf("saving new signing key: %w", err)
		}
		m.log.Info("signing key created", "kid", k.ID, "alg", k.Algorithm, "retire_at", k.RetireAt)
		metas = append(metas, k)
	}
	keys := make([]loadedKey, 0, len(metas))
	for _, meta := range metas {
		p, err := x509.ParsePKCS8PrivateKey(meta.PKCS8)
		if err != nil {
			m.log.Warn("skipping unreadable signing key", "kid", meta.ID, "err", err)
			continue
		}
		signer, ok := p.(crypto.Signer)
		if !ok {
			continue
		}
		keys = append(keys, loadedKey{meta: meta, priv: signer})
	}
	m.keys, m.refreshAt = keys, now.Add(30*time.Second)
	return keys, nil
}

// signing returns the key to sign with: among keys of the configured algorithm still
// signing, the one that retires first (a freshly published successor waits its turn); if
// the only keys were just created, the newest.
func (m *keyManager) signing(ctx context.Context) (loadedKey, error) {
	keys, err := m.load(ctx, false)
	if err != nil {
		return loadedKey{}, err
	}
	now := m.now()
	var best *loadedKey
	for i, k := range keys {
		if k.meta.Algorithm != string(m.alg) || !k.meta.RetireAt.After(now) {
			continue
		}
		// A key published less than overlap ago signs only if no older key still signs.
		if best == nil || k.meta.RetireAt.Before(best.meta.RetireAt) {
			best = &keys[i]
		}
	}
	if best == nil {
		keys, err = m.load(ctx, true)
		if err != nil {
			return loadedKey{}, err
		}
		for i, k := range keys {
			if k.meta.Algorithm == string(m.alg) && k.meta.RetireAt.After(now) {
				best = &keys[i]
			}
		}
	}
	if best == nil {
		return loadedKey{}, fmt.Errorf("no usable %s signing key", m.alg)
	}
	return *best, nil
}

// public returns every published key.
func (m *keyManager) public(ctx context.Context) ([]op.Key, error) {
	keys, err := m.load(ctx, false)
	if err != nil {
		return nil, err
	}
	now := m.now()
	out := make([]op.Key, 0, len(keys))
	for _, k := range keys {
		if k.meta.ExpiresAt.After(now) {
			out = append(out, publicKey{k})
		}
	}
	return out, nil
}

// jwks returns the public keys as a JSON Web Key Set.
func (m *keyManager) jwks(ctx context.Context) (jose.JSONWebKeySet, error) {
	keys, err := m.public(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.Key(), KeyID: k.ID(), Algorithm: string(k.Algorithm()), Use: "sig"})
	}
	return set, nil
}
