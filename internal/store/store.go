package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Sentinel errors. Backends wrap them with %w; test with errors.Is.
var (
	// ErrNotFound: no such row (or it has expired).
	ErrNotFound = errors.New("store: not found")
	// ErrAlreadyExists: a row with the same key (or unique column) exists.
	ErrAlreadyExists = errors.New("store: already exists")
	// ErrRefreshReused: the refresh token was already used (or its family revoked).
	// UseRefreshToken returns the token row with this error so the caller can revoke the family.
	ErrRefreshReused = errors.New("store: refresh token already used")
	// ErrConflict: a compare-and-swap update lost a race; retry.
	ErrConflict = errors.New("store: concurrent update")
)

// Store is everything the authorization server persists.
type Store interface {
	// Clients.
	CreateClient(ctx context.Context, c Client) error
	GetClient(ctx context.Context, id string) (Client, error)
	ListClients(ctx context.Context) ([]Client, error)
	DeleteClient(ctx context.Context, id string) error
	// SetClientDisabled disables (or enables again) a client: a disabled client is kept,
	// listed, and refused by the authorization server. ErrNotFound when there is none.
	SetClientDisabled(ctx context.Context, id string, disabled bool) error

	// Authorization requests (pending sign-ins) and their codes.
	CreateAuthRequest(ctx context.Context, a AuthRequest) error
	GetAuthRequest(ctx context.Context, id string) (AuthRequest, error)
	// GetAuthRequestByCode finds the request whose CodeHash equals codeHash.
	GetAuthRequestByCode(ctx context.Context, codeHash string) (AuthRequest, error)
	// UpdateAuthRequest applies mutate atomically (CAS on Version).
	UpdateAuthRequest(ctx context.Context, id string, mutate func(*AuthRequest) error) (AuthRequest, error)
	DeleteAuthRequest(ctx context.Context, id string) error

	// Refresh tokens, grouped in families (one per sign-in).
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	GetRefreshToken(ctx context.Context, id string) (RefreshToken, error)
	// UseRefreshToken marks the token used exactly once. A second use, or a use after the
	// family was revoked, returns the row and ErrRefreshReused.
	UseRefreshToken(ctx context.Context, id string, now time.Time) (RefreshToken, error)
	// RevokeFamily revokes every refresh token of the family; returns how many.
	RevokeFamily(ctx context.Context, familyID string) (int, error)
	// RevokeUserClient revokes every refresh token of the user for the client.
	RevokeUserClient(ctx context.Context, userID, clientID string) (int, error)

	// Revoked access tokens (by jti) until they expire. RevokeAccessToken stamps the
	// revocation with the current time (RevokedAt), which RevokedAccessTokensSince filters on;
	// revoking a jti again keeps the first stamp.
	RevokeAccessToken(ctx context.Context, jti string, expiresAt time.Time) error
	AccessTokenRevoked(ctx context.Context, jti string) (bool, error)
	// RevokedAccessTokensSince lists the revocations stamped at or after since (every one
	// for the zero time), oldest first. Rows whose token expired may still be listed until
	// DeleteExpired removes them. Verifiers poll it to keep an in-memory revocation list.
	RevokedAccessTokensSince(ctx context.Context, since time.Time) ([]Revocation, error)

	// Issued access tokens, remembered (by jti) until they expire so that ending a sign-in
	// can revoke the access tokens it produced, not only its refresh tokens.
	RecordAccessToken(ctx context.Context, t IssuedAccessToken) error
	// GetIssuedAccessToken returns the recorded access token with this jti (ErrNotFound if
	// none, or it expired).
	GetIssuedAccessToken(ctx context.Context, jti string) (IssuedAccessToken, error)
	// RevokeFamilyAccessTokens revokes (as RevokeAccessToken) every unexpired access token
	// recorded for the family and returns those revocations.
	RevokeFamilyAccessTokens(ctx context.Context, familyID string) ([]Revocation, error)
	// RevokeUserClientAccessTokens does the same for every access token recorded for the
	// user and the client.
	RevokeUserClientAccessTokens(ctx context.Context, userID, clientID string) ([]Revocation, error)

	// Device authorizations (RFC 8628).
	CreateDeviceAuth(ctx context.Context, d DeviceAuth) error
	GetDeviceAuth(ctx context.Context, deviceCodeHash string) (DeviceAuth, error)
	GetDeviceAuthByUserCode(ctx context.Context, userCode string) (DeviceAuth, error)
	UpdateDeviceAuth(ctx context.Context, deviceCodeHash string, mutate func(*DeviceAuth) error) (DeviceAuth, error)

	// Consents: what a user granted a client.
	PutConsent(ctx context.Context, c Consent) error
	GetConsent(ctx context.Context, userID, clientID string) (Consent, error)
	DeleteConsent(ctx context.Context, userID, clientID string) error
	// ListConsents returns the user's unexpired consents, ordered by client ID (the
	// "applications you allowed" page).
	ListConsents(ctx context.Context, userID string) ([]Consent, error)

	// ListSignIns returns the live sign-ins: for each refresh-token family that can still
	// be refreshed, its current token (not used, not revoked, not expired). Only userID's
	// when userID is not empty. Most recent sign-in first (by the family's expiry, which
	// rotation does not extend), at most limit of them (limit <= 0: 100).
	ListSignIns(ctx context.Context, userID string, limit int) ([]RefreshToken, error)

	// Signing keys.
	CreateSigningKey(ctx context.Context, k SigningKey) error
	ListSigningKeys(ctx context.Context) ([]SigningKey, error)
	DeleteSigningKey(ctx context.Context, id string) error
	// RetireSigningKey sets the key's RetireAt and ExpiresAt (rotation ahead of plan);
	// ErrNotFound when there is no such key.
	RetireSigningKey(ctx context.Context, id string, retireAt, expiresAt time.Time) error

	// Server secrets: named random values every replica on the same store must share (the
	// authorization server's cookie and CSRF key). GetOrCreateSecret returns the secret
	// stored under name; when there is none it stores the value of generate and returns it.
	// Concurrent callers, in this process or on other replicas, all get the value that was
	// stored first; generate may run in several of them but only one value wins. generate
	// runs without any store lock held and must return a non-empty value. Secrets never
	// expire. Backends keep them as they keep signing keys: in plain, in the store.
	GetOrCreateSecret(ctx context.Context, name string, generate func() ([]byte, error)) ([]byte, error)

	// Users of the local connector.
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, id string) (User, error)
	GetUserByUsername(ctx context.Context, username string) (User, error)
	ListUsers(ctx context.Context) ([]User, error)
	UpdateUser(ctx context.Context, id string, mutate func(*User) error) (User, error)
	DeleteUser(ctx context.Context, id string) error

	// Login attempts. RecordLoginFailure counts a failure for key within a fixed window
	// that starts at the first failure; it returns the count and the window start.
	RecordLoginFailure(ctx context.Context, key string, now time.Time, window time.Duration) (count int, windowStart time.Time, err error)
	LoginFailures(ctx context.Context, key string, now time.Time, window time.Duration) (count int, windowStart time.Time, err error)
	ClearLoginFailures(ctx context.Context, key string) error

	// Connections: each user's upstream tokens per provider, sealed (third-party
	// connections and federated sign-ins; see Connection). They never expire here: their
	// owner marks them broken or deletes them.
	// GetConnection returns the connection or an error wrapping ErrNotFound.
	GetConnection(ctx context.Context, subject, provider string) (Connection, error)
	// CompareAndSwapConnection writes c if the stored version equals oldVersion (0: the
	// connection must not exist); c.Version must be oldVersion+1. When another writer won
	// it returns an error wrapping ErrConflict, atomically across every replica sharing
	// the store.
	CompareAndSwapConnection(ctx context.Context, oldVersion int64, c Connection) error
	// DeleteConnection removes the connection (no error if absent).
	DeleteConnection(ctx context.Context, subject, provider string) error
	// ListConnections returns the subject's connections, ordered by provider.
	ListConnections(ctx context.Context, subject string) ([]Connection, error)

	// DeleteExpired removes every row whose expiry is before now; returns the count.
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
	Ping(ctx context.Context) error
	Close() error
}

// Client is a registered OAuth client.
type Client struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	// SecretHash is empty for public clients (token_endpoint_auth_method none).
	SecretHash   string   `json:"secretHash,omitempty"`
	RedirectURIs []string `json:"redirectUris,omitempty"`
	// PostLogoutRedirectURIs for end-session.
	PostLogoutRedirectURIs []string `json:"postLogoutRedirectUris,omitempty"`
	GrantTypes             []string `json:"grantTypes,omitempty"`
	// Scopes the client may ask for; empty = any scope the server knows.
	Scopes []string `json:"scopes,omitempty"`
	// Trusted clients skip the consent page.
	Trusted bool `json:"trusted,omitempty"`
	// Source is static, dcr or cimd.
	Source string `json:"source,omitempty"`
	// ApplicationType is native or web for registered clients (OpenID Connect
	// Registration §2); empty for others.
	ApplicationType string `json:"applicationType,omitempty"`
	// AuthMethod is private_key_jwt for clients that authenticate with a signed assertion
	// (RFC 7523) using a key of JWKS or JWKSURI; empty otherwise (the secret decides).
	AuthMethod string          `json:"authMethod,omitempty"`
	JWKS       json.RawMessage `json:"jwks,omitempty"`
	JWKSURI    string          `json:"jwksUri,omitempty"`
	CreatedAt  time.Time       `json:"createdAt"`
	// ExpiresAt is zero for clients that never expire.
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
	// Disabled clients are refused (an administrator disabled them; SetClientDisabled).
	Disabled bool `json:"disabled,omitempty"`
}

// Public reports whether the client has no secret.
func (c Client) Public() bool { return c.SecretHash == "" && c.AuthMethod == "" }

// AuthRequest is a pending authorization request.
type AuthRequest struct {
	ID                  string    `json:"id"`
	ClientID            string    `json:"clientId"`
	RedirectURI         string    `json:"redirectUri"`
	State               string    `json:"state,omitempty"`
	Nonce               string    `json:"nonce,omitempty"`
	Scopes              []string  `json:"scopes,omitempty"`
	ResponseType        string    `json:"responseType"`
	ResponseMode        string    `json:"responseMode,omitempty"`
	CodeChallenge       string    `json:"codeChallenge,omitempty"`
	CodeChallengeMethod string    `json:"codeChallengeMethod,omitempty"`
	Resources           []string  `json:"resources,omitempty"`
	Prompt              []string  `json:"prompt,omitempty"`
	MaxAgeSeconds       *uint     `json:"maxAge,omitempty"`
	LoginHint           string    `json:"loginHint,omitempty"`
	UserID              string    `json:"userId,omitempty"`
	AuthTime            time.Time `json:"authTime,omitzero"`
	AMR                 []string  `json:"amr,omitempty"`
	// Done is set once the user signed in and consented.
	Done bool `json:"done,omitempty"`
	// CodeHash is the SHA-256 of the issued authorization code (empty until issued).
	CodeHash string `json:"codeHash,omitempty"`
	// CodeUsed is set when the code was exchanged; a second exchange is a replay.
	CodeUsed  bool      `json:"codeUsed,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	Version   int64     `json:"-"`
}

// RefreshToken is one link in a refresh-token family. ID is the SHA-256 of the token value.
type RefreshToken struct {
	ID        string    `json:"id"`
	FamilyID  string    `json:"familyId"`
	ClientID  string    `json:"clientId"`
	UserID    string    `json:"userId"`
	Scopes    []string  `json:"scopes,omitempty"`
	Audience  []string  `json:"audience,omitempty"`
	AMR       []string  `json:"amr,omitempty"`
	AuthTime  time.Time `json:"authTime,omitzero"`
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	UsedAt    time.Time `json:"usedAt,omitzero"`
	Revoked   bool      `json:"revoked,omitempty"`
}

// Revocation is an entry of the access-token revocation list.
type Revocation struct {
	JTI string `json:"jti"`
	// ExpiresAt is when the revoked token expires: after it the entry is no longer needed.
	ExpiresAt time.Time `json:"exp"`
	// RevokedAt is when the revocation was stored, by the clock of the process that stored it.
	RevokedAt time.Time `json:"revokedAt,omitzero"`
}

// IssuedAccessToken is an access token as the store remembers it: its jti and the sign-in
// (refresh-token family, or authorization request when no refresh token was issued), user
// and client it was issued for.
type IssuedAccessToken struct {
	JTI       string    `json:"jti"`
	FamilyID  string    `json:"familyId"`
	UserID    string    `json:"userId"`
	ClientID  string    `json:"clientId"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Device authorization states.
const (
	DevicePending  = "pending"
	DeviceApproved = "approved"
	DeviceDenied   = "denied"
	DeviceConsumed = "consumed" // tokens were issued

)

// DeviceAuth is a device authorization (RFC 8628). DeviceCodeHash is the SHA-256 of the
// device code; UserCode is what the user types.
type DeviceAuth struct {
	DeviceCodeHash string    `json:"deviceCodeHash"`
	UserCode       string    `json:"userCode"`
	ClientID       string    `json:"clientId"`
	Scopes         []string  `json:"scopes,omitempty"`
	Audience       []string  `json:"audience,omitempty"`
	State          string    `json:"state"`
	UserID         string    `json:"userId,omitempty"`
	AuthTime       time.Time `json:"authTime,omitzero"`
	CreatedAt      time.Time `json:"createdAt"`
	ExpiresAt      time.Time `json:"expiresAt"`
	Version        int64     `json:"-"`
}

// Consent is what a user granted a client.
type Consent struct {
	UserID    string    `json:"userId"`
	ClientID  string    `json:"clientId"`
	Scopes    []string  `json:"scopes,omitempty"`
	GrantedAt time.Time `json:"grantedAt"`
	ExpiresAt time.Time `json:"expiresAt,omitzero"`
}

// Covers reports whether the consent includes every scope.
func (c Consent) Covers(scopes []string) bool {
	for _, s := range scopes {
		if !slices.Contains(c.Scopes, s) {
			return false
		}
	}
	return true
}

// SigningKey is a private signing key (PKCS#8 DER).
type SigningKey struct {
	ID        string    `json:"id"`
	Algorithm string    `json:"alg"`
	PKCS8     []byte    `json:"pkcs8"`
	CreatedAt time.Time `json:"createdAt"`
	// RetireAt: after this the key no longer signs but is still published.
	RetireAt time.Time `json:"retireAt"`
	// ExpiresAt: after this the key is removed from the JWKS and deleted.
	ExpiresAt time.Time `json:"expiresAt"`
}

// User is a local user.
type User struct {
	ID           string    `json:"id"`
	Username     string    `json:"username"`
	Email        string    `json:"email,omitempty"`
	Name         string    `json:"name,omitempty"`
	PasswordHash string    `json:"passwordHash,omitempty"`
	Groups       []string  `json:"groups,omitempty"`
	Disabled     bool      `json:"disabled,omitempty"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
	Version      int64     `json:"-"`
}

func expired(exp, now time.Time) bool { return !exp.IsZero() && !now.Before(exp) }

// checkSecretName and generateSecret are GetOrCreateSecret's checks, the same in every
// backend.
func checkSecretName(name string) error {
	if name == "" {
		return errors.New("server secret: the name is empty")
	}
	return nil
}

func generateSecret(name string, generate func() ([]byte, error)) ([]byte, error) {
	v, err := generate()
	if err != nil {
		return nil, fmt.Errorf("generating server secret %q: %w", name, err)
	}
	if len(v) == 0 {
		return nil, fmt.Errorf("generating server secret %q: the generator returned an empty value", name)
	}
	return v, nil
}
