package store

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/internal/audit"
)

// Memory is an in-process Store for tests, demos and single-process development. All state
// is lost on exit. Values are deep-copied in and out.
type Memory struct {
	mu       sync.Mutex
	clients  map[string]Client
	authReqs map[string]AuthRequest
	codes    map[string]string // code hash → auth request id
	refresh  map[string]RefreshToken
	revoked  map[string]Revocation
	issued   map[string]IssuedAccessToken
	devices  map[string]DeviceAuth
	userCode map[string]string // user code → device code hash
	consents map[[2]string]Consent
	keys     map[string]SigningKey
	users    map[string]User
	byName   map[string]string
	failures map[string]failure
	secrets  map[string][]byte
	audit    *audit.MemoryStore // created on first use (audit.go)
	// assertions: used assertion ids → expiry, created on first use (assertions.go)
	assertions map[string]time.Time
	signOuts   map[string]signOut // browser sign-outs by user (signouts.go)
	// connections: (subject, provider) → connection, created on first use (connections.go)
	connections map[[2]string]Connection
}

type failure struct {
	count int
	start time.Time
}

// NewMemory returns an empty memory store.
func NewMemory() *Memory {
	return &Memory{
		clients: map[string]Client{}, authReqs: map[string]AuthRequest{}, codes: map[string]string{},
		refresh: map[string]RefreshToken{}, revoked: map[string]Revocation{}, issued: map[string]IssuedAccessToken{}, devices: map[string]DeviceAuth{},
		userCode: map[string]string{}, consents: map[[2]string]Consent{}, keys: map[string]SigningKey{},
		users: map[string]User{}, byName: map[string]string{}, failures: map[string]failure{},
		secrets: map[string][]byte{},
	}
}

func clone[T any](v T) T {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	var out T
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func nf(what string) error { return fmt.Errorf("%s: %w", what, ErrNotFound) }

func (m *Memory) CreateClient(_ context.Context, c Client) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.clients[c.ID]; ok && !expired(old.ExpiresAt, time.Now()) {
		return fmt.Errorf("client: %w", ErrAlreadyExists)
	}
	m.clients[c.ID] = clone(c)
	return nil
}

func (m *Memory) GetClient(_ context.Context, id string) (Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.clients[id]
	if !ok || expired(c.ExpiresAt, time.Now()) {
		return Client{}, nf("client")
	}
	return clone(c), nil
}

func (m *Memory) ListClients(_ context.Context) ([]Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return liveByID(m.clients, func(c Client) time.Time { return c.ExpiresAt }), nil
}

func (m *Memory) DeleteClient(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return deleteByID(m.clients, id, "client")
}

func (m *Memory) CreateAuthRequest(_ context.Context, a AuthRequest) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.authReqs[a.ID]; ok {
		return fmt.Errorf("auth request: %w", ErrAlreadyExists)
	}
	if a.CodeHash != "" {
		if _, ok := m.codes[a.CodeHash]; ok {
			return fmt.Errorf("auth request code: %w", ErrAlreadyExists)
		}
		m.codes[a.CodeHash] = a.ID
	}
	a.Version = 1
	m.authReqs[a.ID] = clone(a)
	return nil
}

func (m *Memory) getAuthReq(id string) (AuthRequest, error) {
	a, ok := m.authReqs[id]
	if !ok || expired(a.ExpiresAt, time.Now()) {
		return AuthRequest{}, nf("auth request")
	}
	out := clone(a)
	out.Version = a.Version
	return out, nil
}

func (m *Memory) GetAuthRequest(_ context.Context, id string) (AuthRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.getAuthReq(id)
}

func (m *Memory) GetAuthRequestByCode(_ context.Context, codeHash string) (AuthRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.codes[codeHash]
	if !ok || codeHash == "" {
		return AuthRequest{}, nf("auth request")
	}
	return m.getAuthReq(id)
}

func (m *Memory) UpdateAuthRequest(_ context.Context, id string, mutate func(*AuthRequest) error) (AuthRequest, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, err := m.getAuthReq(id)
	if err != nil {
		return a, err
	}
	oldCode := a.CodeHash
	if err := mutate(&a); err != nil {
		return a, err
	}
	if a.CodeHash != oldCode && a.CodeHash != "" {
		if _, ok := m.codes[a.CodeHash]; ok {
			return a, fmt.Errorf("auth request code: %w", ErrAlreadyExists)
		}
	}
	if oldCode != "" {
		delete(m.codes, oldCode)
	}
	if a.CodeHash != "" {
		m.codes[a.CodeHash] = id
	}
	a.ID = id
	a.Version++
	stored := clone(a)
	stored.Version = a.Version
	m.authReqs[id] = stored
	return a, nil
}

func (m *Memory) DeleteAuthRequest(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.authReqs[id]
	if !ok {
		return nf("auth request")
	}
	delete(m.codes, a.CodeHash)
	delete(m.authReqs, id)
	return nil
}

func (m *Memory) CreateRefreshToken(_ context.Context, t RefreshToken) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.refresh[t.ID]; ok {
		return fmt.Errorf("refresh token: %w", ErrAlreadyExists)
	}
	m.refresh[t.ID] = clone(t)
	return nil
}

func (m *Memory) GetRefreshToken(_ context.Context, id string) (RefreshToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.refresh[id]
	if !ok || expired(t.ExpiresAt, time.Now()) {
		return RefreshToken{}, nf("refresh token")
	}
	return clone(t), nil
}

func (m *Memory) UseRefreshToken(_ context.Context, id string, now time.Time) (RefreshToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.refresh[id]
	if !ok || expired(t.ExpiresAt, now) {
		return RefreshToken{}, nf("refresh token")
	}
	if !t.UsedAt.IsZero() || t.Revoked {
		return clone(t), ErrRefreshReused
	}
	t.UsedAt = now
	m.refresh[id] = t
	return clone(t), nil
}

func (m *Memory) RevokeFamily(_ context.Context, familyID string) (int, error) {
	return m.revokeWhere(func(t RefreshToken) bool { return t.FamilyID == familyID }), nil
}

func (m *Memory) RevokeUserClient(_ context.Context, userID, clientID string) (int, error) {
	return m.revokeWhere(func(t RefreshToken) bool { return t.UserID == userID && t.ClientID == clientID }), nil
}

func (m *Memory) revokeWhere(f func(RefreshToken) bool) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, t := range m.refresh {
		if f(t) && !t.Revoked {
			t.Revoked = true
			m.refresh[id] = t
			n++
		}
	}
	return n
}

func (m *Memory) RevokeAccessToken(_ context.Context, jti string, exp time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.revokeLocked(Revocation{JTI: jti, ExpiresAt: exp, RevokedAt: time.Now()})
	return nil
}

// revokeLocked adds r unless the jti is already revoked (the first stamp stays).
func (m *Memory) revokeLocked(r Revocation) {
	if _, ok := m.revoked[r.JTI]; !ok {
		m.revoked[r.JTI] = r
	}
}

func (m *Memory) RevokedAccessTokensSince(_ context.Context, since time.Time) ([]Revocation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Revocation
	for _, r := range m.revoked {
		if !r.RevokedAt.Before(since) {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].RevokedAt.Before(out[j].RevokedAt) })
	return out, nil
}

func (m *Memory) RecordAccessToken(_ context.Context, t IssuedAccessToken) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.issued[t.JTI]; ok {
		return fmt.Errorf("issued access token: %w", ErrAlreadyExists)
	}
	m.issued[t.JTI] = t
	return nil
}

func (m *Memory) GetIssuedAccessToken(_ context.Context, jti string) (IssuedAccessToken, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.issued[jti]
	if !ok || expired(t.ExpiresAt, time.Now()) {
		return IssuedAccessToken{}, nf("issued access token")
	}
	return t, nil
}

func (m *Memory) RevokeFamilyAccessTokens(_ context.Context, familyID string) ([]Revocation, error) {
	return m.revokeIssued(func(t IssuedAccessToken) bool { return t.FamilyID == familyID }), nil
}

func (m *Memory) RevokeUserClientAccessTokens(_ context.Context, userID, clientID string) ([]Revocation, error) {
	return m.revokeIssued(func(t IssuedAccessToken) bool { return t.UserID == userID && t.ClientID == clientID }), nil
}

func (m *Memory) revokeIssued(f func(IssuedAccessToken) bool) []Revocation {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	var out []Revocation
	for _, t := range m.issued {
		if f(t) && !expired(t.ExpiresAt, now) {
			r := Revocation{JTI: t.JTI, ExpiresAt: t.ExpiresAt, RevokedAt: now}
			m.revokeLocked(r)
			out = append(out, r)
		}
	}
	return out
}

func (m *Memory) AccessTokenRevoked(_ context.Context, jti string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.revoked[jti]
	return ok, nil
}

func (m *Memory) CreateDeviceAuth(_ context.Context, d DeviceAuth) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.devices[d.DeviceCodeHash]; ok {
		return fmt.Errorf("device authorization: %w", ErrAlreadyExists)
	}
	if _, ok := m.userCode[d.UserCode]; ok {
		return fmt.Errorf("device user code: %w", ErrAlreadyExists)
	}
	d.Version = 1
	m.devices[d.DeviceCodeHash] = d
	m.userCode[d.UserCode] = d.DeviceCodeHash
	return nil
}

func (m *Memory) getDevice(h string) (DeviceAuth, error) {
	d, ok := m.devices[h]
	if !ok {
		return DeviceAuth{}, nf("device authorization")
	}
	out := clone(d)
	out.Version = d.Version
	return out, nil
}

func (m *Memory) GetDeviceAuth(_ context.Context, h string) (DeviceAuth, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.getDevice(h)
}

func (m *Memory) GetDeviceAuthByUserCode(_ context.Context, code string) (DeviceAuth, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.getDevice(m.userCode[code])
}

func (m *Memory) UpdateDeviceAuth(_ context.Context, h string, mutate func(*DeviceAuth) error) (DeviceAuth, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, err := m.getDevice(h)
	if err != nil {
		return d, err
	}
	if err := mutate(&d); err != nil {
		return d, err
	}
	d.DeviceCodeHash = h
	d.Version++
	stored := clone(d)
	stored.Version = d.Version
	m.devices[h] = stored
	return d, nil
}

func (m *Memory) PutConsent(_ context.Context, c Consent) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.consents[[2]string{c.UserID, c.ClientID}] = clone(c)
	return nil
}

func (m *Memory) GetConsent(_ context.Context, userID, clientID string) (Consent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.consents[[2]string{userID, clientID}]
	if !ok || expired(c.ExpiresAt, time.Now()) {
		return Consent{}, nf("consent")
	}
	return clone(c), nil
}

func (m *Memory) DeleteConsent(_ context.Context, userID, clientID string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{userID, clientID}
	if _, ok := m.consents[k]; !ok {
		return nf("consent")
	}
	delete(m.consents, k)
	return nil
}

func (m *Memory) CreateSigningKey(_ context.Context, k SigningKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.keys[k.ID]; ok {
		return fmt.Errorf("signing key: %w", ErrAlreadyExists)
	}
	m.keys[k.ID] = clone(k)
	return nil
}

func (m *Memory) ListSigningKeys(_ context.Context) ([]SigningKey, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return liveByID(m.keys, func(k SigningKey) time.Time { return k.ExpiresAt }), nil
}

func (m *Memory) DeleteSigningKey(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	return deleteByID(m.keys, id, "signing key")
}

// liveByID returns copies of the unexpired values of a map keyed by ID, in ID order.
func liveByID[T any](m map[string]T, expiresAt func(T) time.Time) []T {
	ids := make([]string, 0, len(m))
	for id, v := range m {
		if !expired(expiresAt(v), time.Now()) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	out := make([]T, 0, len(ids))
	for _, id := range ids {
		out = append(out, clone(m[id]))
	}
	return out
}

// deleteByID removes id from m, or reports that the named thing was not found.
func deleteByID[T any](m map[string]T, id, what string) error {
	if _, ok := m[id]; !ok {
		return nf(what)
	}
	delete(m, id)
	return nil
}

func (m *Memory) GetOrCreateSecret(_ context.Context, name string, generate func() ([]byte, error)) ([]byte, error) {
	if err := checkSecretName(name); err != nil {
		return nil, err
	}
	m.mu.Lock()
	v, ok := m.secrets[name]
	m.mu.Unlock()
	if ok {
		return bytes.Clone(v), nil
	}
	// Generate outside the lock; the first value stored wins.
	v, err := generateSecret(name, generate)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.secrets[name]; ok {
		return bytes.Clone(old), nil
	}
	m.secrets[name] = bytes.Clone(v)
	return bytes.Clone(v), nil
}

func (m *Memory) CreateUser(_ context.Context, u User) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.users[u.ID]; ok {
		return fmt.Errorf("user: %w", ErrAlreadyExists)
	}
	if _, ok := m.byName[u.Username]; ok {
		return fmt.Errorf("username %q: %w", u.Username, ErrAlreadyExists)
	}
	u.Version = 1
	m.users[u.ID] = u
	m.byName[u.Username] = u.ID
	return nil
}

func (m *Memory) getUser(id string) (User, error) {
	u, ok := m.users[id]
	if !ok {
		return User{}, nf("user")
	}
	out := clone(u)
	out.Version = u.Version
	return out, nil
}

func (m *Memory) GetUser(_ context.Context, id string) (User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.getUser(id)
}

func (m *Memory) GetUserByUsername(_ context.Context, username string) (User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id, ok := m.byName[username]
	if !ok {
		return User{}, nf("user")
	}
	return m.getUser(id)
}

func (m *Memory) ListUsers(_ context.Context) ([]User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []User
	for _, u := range m.users {
		out = append(out, clone(u))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out, nil
}

func (m *Memory) UpdateUser(_ context.Context, id string, mutate func(*User) error) (User, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, err := m.getUser(id)
	if err != nil {
		return u, err
	}
	oldName := u.Username
	if err := mutate(&u); err != nil {
		return u, err
	}
	if u.Username != oldName {
		if _, ok := m.byName[u.Username]; ok {
			return u, fmt.Errorf("username %q: %w", u.Username, ErrAlreadyExists)
		}
		delete(m.byName, oldName)
		m.byName[u.Username] = id
	}
	u.ID = id
	u.Version++
	stored := clone(u)
	stored.Version = u.Version
	m.users[id] = stored
	return u, nil
}

func (m *Memory) DeleteUser(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	u, ok := m.users[id]
	if !ok {
		return nf("user")
	}
	delete(m.byName, u.Username)
	delete(m.users, id)
	return nil
}

func (m *Memory) RecordLoginFailure(_ context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f := m.failures[key]
	if f.count == 0 || !f.start.After(now.Add(-window)) {
		f = failure{start: now}
	}
	f.count++
	m.failures[key] = f
	return f.count, f.start, nil
}

func (m *Memory) LoginFailures(_ context.Context, key string, now time.Time, window time.Duration) (int, time.Time, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.failures[key]
	if !ok || !f.start.After(now.Add(-window)) {
		return 0, time.Time{}, nil
	}
	return f.count, f.start, nil
}

func (m *Memory) ClearLoginFailures(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.failures, key)
	return nil
}

func (m *Memory) DeleteExpired(_ context.Context, now time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for id, c := range m.clients {
		if expired(c.ExpiresAt, now) {
			delete(m.clients, id)
			n++
		}
	}
	for id, a := range m.authReqs {
		if expired(a.ExpiresAt, now) {
			delete(m.codes, a.CodeHash)
			delete(m.authReqs, id)
			n++
		}
	}
	for id, t := range m.refresh {
		if expired(t.ExpiresAt, now) {
			delete(m.refresh, id)
			n++
		}
	}
	for id, r := range m.revoked {
		if expired(r.ExpiresAt, now) {
			delete(m.revoked, id)
			n++
		}
	}
	for id, t := range m.issued {
		if expired(t.ExpiresAt, now) {
			delete(m.issued, id)
			n++
		}
	}
	for id, d := range m.devices {
		if expired(d.ExpiresAt, now) {
			delete(m.userCode, d.UserCode)
			delete(m.devices, id)
			n++
		}
	}
	for k, c := range m.consents {
		if expired(c.ExpiresAt, now) {
			delete(m.consents, k)
			n++
		}
	}
	for id, k := range m.keys {
		if expired(k.ExpiresAt, now) {
			delete(m.keys, id)
			n++
		}
	}
	for k, f := range m.failures {
		if !f.start.After(now.Add(-loginFailureTTL)) {
			delete(m.failures, k)
			n++
		}
	}
	n += m.deleteExpiredAssertions(now)
	n += m.deleteExpiredSignOuts(now)
	return n, nil
}

func (m *Memory) Ping(context.Context) error { return nil }
func (m *Memory) Close() error               { return nil }

var _ Store = (*Memory)(nil)
