package client

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Token is a cached OAuth token.
type Token struct {
	AccessToken  string    `json:"access_token"`
	TokenType    string    `json:"token_type,omitempty"`
	RefreshToken string    `json:"refresh_token,omitempty"`
	Scope        string    `json:"scope,omitempty"`
	Expiry       time.Time `json:"expiry,omitzero"`
	IDToken      string    `json:"id_token,omitempty"`
}

func (t *Token) expiresWithin(d time.Duration) bool {
	return !t.Expiry.IsZero() && time.Now().Add(d).After(t.Expiry)
}

// Registration is how this client is known to an authorization server.
type Registration struct {
	ClientID     string `json:"client_id"`
	ClientSecret string `json:"client_secret,omitempty"`
	// AuthMethod is the token endpoint auth method: client_secret_basic, client_secret_post or none.
	AuthMethod  string `json:"auth_method"`
	RedirectURI string `json:"redirect_uri,omitempty"`
	// Kind is how the client_id was obtained: preregistered, metadata-document or dynamic.
	Kind string `json:"kind"`
}

// Entry is one cached sign-in: one server and resource setting.
type Entry struct {
	ServerURL string `json:"server_url"`
	// ResourceSetting is the configured resource choice ("" default, "-" none, else override).
	ResourceSetting string `json:"resource_setting,omitempty"`
	// Resource is the RFC 8707 resource used for this sign-in ("" when omitted).
	Resource     string         `json:"resource,omitempty"`
	Server       ServerMetadata `json:"server"`
	Registration Registration   `json:"registration"`
	// Scopes are the scopes requested at the last authorization.
	Scopes  string    `json:"scopes,omitempty"`
	Token   Token     `json:"token"`
	Updated time.Time `json:"updated"`
}

// Cache stores entries as JSON files (mode 0600) in Dir (mode 0700), one per server and
// resource setting, with a sibling lock file for cross-process locking.
type Cache struct{ Dir string }

// CacheKey names the entry of a canonical server URL and resource setting.
func CacheKey(canonicalServer, resourceSetting string) string {
	sum := sha256.Sum256([]byte(canonicalServer + "\n" + resourceSetting))
	return hex.EncodeToString(sum[:12])
}

func (c *Cache) path(key string) string { return filepath.Join(c.Dir, key+".json") }

func (c *Cache) ensureDir() error {
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return fmt.Errorf("creating token cache %s: %w", c.Dir, err)
	}
	return os.Chmod(c.Dir, 0o700)
}

// Load returns the entry for key, or nil when there is none.
func (c *Cache) Load(key string) (*Entry, error) {
	b, err := os.ReadFile(c.path(key))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading token cache: %w", err)
	}
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("token cache file %s is corrupt (%v); run `mcpgate logout` for this server", c.path(key), err)
	}
	return &e, nil
}

// Save writes e atomically (temp file + rename) with mode 0600.
func (c *Cache) Save(e *Entry) error {
	if err := c.ensureDir(); err != nil {
		return err
	}
	canon, err := CanonicalResource(e.ServerURL)
	if err != nil {
		return err
	}
	e.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(e, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(c.Dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("writing token cache: %w", err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("writing token cache: %w", err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), c.path(CacheKey(canon, e.ResourceSetting)))
}

// Delete removes the entry for key and reports whether it existed.
func (c *Cache) Delete(key string) (bool, error) {
	err := os.Remove(c.path(key))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Lock takes the exclusive cross-process lock of key (flock on key.lock), waiting up to
// timeout for another process (typically one in the middle of a browser sign-in). On Unix
// this is flock(2); on Windows LockFileEx.
func (c *Cache) Lock(ctx context.Context, key string, timeout time.Duration) (unlock func(), err error) {
	if err := c.ensureDir(); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(c.Dir, key+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening token cache lock: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		got, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking token cache: %w", err)
		}
		if got {
			return func() {
				unlockFile(f)
				f.Close()
			}, nil
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("another mcpgate process has held the sign-in lock for %s for over %s; finish or stop that sign-in", key, timeout)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// tokenID is a short non-reversible id of a token for logs.
func tokenID(tok string) string {
	if tok == "" {
		return ""
	}
	sum := sha256.Sum256([]byte(tok))
	return "sha256:" + hex.EncodeToString(sum[:6])
}
