package authserver

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mcpgate/mcpgate/internal/store"
)

// Identity is an authenticated user as a connector reports it.
type Identity struct {
	// UserID is the stable subject (sub).
	UserID   string
	Username string
	Email    string
	Name     string
	Groups   []string
}

// Connector is the seam for identity sources: the local user store now, federation
// (Entra, Keycloak, Okta via OIDC) later. A connector has an ID and a display name, and
// abilities through the extra interfaces below (checked by type assertion).
type Connector interface {
	ID() string
	Name() string
}

// PasswordConnector checks a username and password (the login form).
type PasswordConnector interface {
	Connector
	// Login returns ok=false for a wrong username or password; err only for a technical
	// failure.
	Login(ctx context.Context, username, password string) (id Identity, ok bool, err error)
}

// RedirectConnector signs users in at another identity provider with a browser redirect
// (OpenID Connect authorization code + PKCE; package internal/authserver/federation). The
// login page shows a "Sign in with <Name>" button for each, or redirects at once when it
// is the only connector. The server keeps state, nonce and PKCE verifier in a signed,
// browser-bound cookie and checks them at PathFederatedCallback.
type RedirectConnector interface {
	Connector
	// AuthCodeURL returns the upstream authorization URL for one sign-in.
	AuthCodeURL(ctx context.Context, s RedirectStart) (string, error)
	// Exchange redeems the code (and keeps the upstream tokens) and returns the user.
	Exchange(ctx context.Context, f RedirectFinish) (Identity, error)
	// ExplainError turns an upstream error (error, error_description of the callback or of
	// the token response) into a sentence that tells the user or administrator how to fix
	// it, and a stable code to log (AADSTS7000215, invalid_client ...).
	ExplainError(code, description string) (logCode, fix string)
}

// RedirectStart is what AuthCodeURL needs.
type RedirectStart struct {
	State, Nonce, CodeChallenge string
	// RedirectURI is mcpgate's callback (issuer + PathFederatedCallback).
	RedirectURI string
	LoginHint   string
	// Prompt of the MCP client's request (login, select_account, consent), passed on.
	Prompt []string
}

// RedirectFinish is what Exchange needs.
type RedirectFinish struct {
	Code, CodeVerifier, Nonce, RedirectURI string
}

// IdentityLookup finds a user by subject, to put fresh claims in tokens and userinfo.
type IdentityLookup interface {
	Lookup(ctx context.Context, userID string) (Identity, error)
}

// ErrUnknownUser: no connector knows the subject.
var ErrUnknownUser = errors.New("unknown user")

// LocalConnector authenticates users from the config file and the store.
type LocalConnector struct {
	store  store.Store
	config map[string]ConfigUser // by lower-case username
}

// NewLocalConnector returns the local connector. Config users win over store users of the
// same username; their subject is "config:<username>".
func NewLocalConnector(s store.Store, users []ConfigUser) *LocalConnector {
	c := &LocalConnector{store: s, config: map[string]ConfigUser{}}
	for _, u := range users {
		c.config[strings.ToLower(u.Username)] = u
	}
	return c
}

func (c *LocalConnector) ID() string   { return "local" }
func (c *LocalConnector) Name() string { return "Local users" }

// dummyHash is checked for unknown users so that timing does not reveal which usernames exist.
// It is the argon2id hash of "mcpgate-dummy-password" with the parameters HashPassword uses
// (TestDummyHash keeps them equal), written out rather than computed: computing it at package
// initialisation cost every mcpgate process half a second and 64 MiB of heap (argonMemory),
// which the collector then kept as the heap goal.
const dummyHash = "$argon2id$v=19$m=65536,t=3,p=2$C1lVwtrJWdtrxcJgyxQnmw$arpUiG2nrIYwozKhfnqvbmpsq1SrGj7Dcx3Ja47mcr8"

func (c *LocalConnector) Login(ctx context.Context, username, password string) (Identity, bool, error) {
	username = strings.TrimSpace(username)
	if cu, ok := c.config[strings.ToLower(username)]; ok {
		good, err := CheckPassword(cu.PasswordHash, password)
		if err != nil {
			return Identity{}, false, fmt.Errorf("user %s from the config: %w", cu.Username, err)
		}
		return configIdentity(cu), good, nil
	}
	u, err := c.store.GetUserByUsername(ctx, username)
	if errors.Is(err, store.ErrNotFound) {
		CheckPassword(dummyHash, password)
		return Identity{}, false, nil
	}
	if err != nil {
		return Identity{}, false, err
	}
	if u.Disabled {
		CheckPassword(dummyHash, password)
		return Identity{}, false, nil
	}
	good, err := CheckPassword(u.PasswordHash, password)
	if err != nil {
		return Identity{}, false, fmt.Errorf("user %s: %w", u.Username, err)
	}
	return storeIdentity(u), good, nil
}

func (c *LocalConnector) Lookup(ctx context.Context, userID string) (Identity, error) {
	if name, ok := strings.CutPrefix(userID, "config:"); ok {
		if cu, ok := c.config[strings.ToLower(name)]; ok {
			return configIdentity(cu), nil
		}
		return Identity{}, ErrUnknownUser
	}
	u, err := c.store.GetUser(ctx, userID)
	if errors.Is(err, store.ErrNotFound) {
		return Identity{}, ErrUnknownUser
	}
	if err != nil {
		return Identity{}, err
	}
	if u.Disabled {
		return Identity{}, ErrUnknownUser
	}
	return storeIdentity(u), nil
}

func configIdentity(u ConfigUser) Identity {
	return Identity{UserID: "config:" + strings.ToLower(u.Username), Username: u.Username, Email: u.Email, Name: u.Name, Groups: u.Groups}
}

func storeIdentity(u store.User) Identity {
	return Identity{UserID: u.ID, Username: u.Username, Email: u.Email, Name: u.Name, Groups: u.Groups}
}

func (s *Server) lookupIdentity(ctx context.Context, subject string) (Identity, error) {
	for _, c := range s.opts.Connectors {
		if l, ok := c.(IdentityLookup); ok {
			id, err := l.Lookup(ctx, subject)
			if err == nil {
				return id, nil
			}
			if !errors.Is(err, ErrUnknownUser) {
				return id, err
			}
		}
	}
	return Identity{}, ErrUnknownUser
}

func (s *Server) passwordLogin(ctx context.Context, username, password string) (Identity, bool, error) {
	for _, c := range s.opts.Connectors {
		if p, ok := c.(PasswordConnector); ok {
			id, ok, err := p.Login(ctx, username, password)
			if err != nil || ok {
				return id, ok, err
			}
		}
	}
	return Identity{}, false, nil
}

var _ PasswordConnector = (*LocalConnector)(nil)
var _ IdentityLookup = (*LocalConnector)(nil)
