package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// KeySize is the AES-256 key length in bytes.
const KeySize = 32

const prefix = "v1."

// ErrUnknownKey means a value was sealed under a key id that is not configured (the key was
// removed too early, or the value comes from another deployment).
var ErrUnknownKey = errors.New("secrets: sealed under a key id that is not configured")

// ErrOpen means a sealed value failed authentication: wrong key material for its id, wrong
// additional data, or tampering. It never says which.
var ErrOpen = errors.New("secrets: sealed value does not open with the configured key (wrong key, wrong context or tampered)")

// Keyring holds the AES-256-GCM keys by id. It is safe for concurrent use once built.
type Keyring struct {
	primary string
	aeads   map[string]cipher.AEAD
	ids     []string
}

// Key is one named key.
type Key struct {
	ID       string
	Material []byte // 32 bytes
}

// NewKeyring builds a keyring. primary names the key used for new seals; empty means the
// first key.
func NewKeyring(primary string, keys ...Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("secrets: no keys: give at least one id:base64key (generate one with `openssl rand -base64 32`)")
	}
	kr := &Keyring{aeads: map[string]cipher.AEAD{}}
	for i, k := range keys {
		if err := validID(k.ID); err != nil {
			return nil, fmt.Errorf("secrets: key %d: %w", i+1, err)
		}
		if len(k.Material) != KeySize {
			return nil, fmt.Errorf("secrets: key %q is %d bytes; AES-256 needs exactly %d (generate one with `openssl rand -base64 32`)", k.ID, len(k.Material), KeySize)
		}
		if _, dup := kr.aeads[k.ID]; dup {
			return nil, fmt.Errorf("secrets: key id %q appears twice", k.ID)
		}
		block, err := aes.NewCipher(k.Material)
		if err != nil {
			return nil, fmt.Errorf("secrets: key %q: %w", k.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("secrets: key %q: %w", k.ID, err)
		}
		kr.aeads[k.ID] = aead
		kr.ids = append(kr.ids, k.ID)
	}
	if primary == "" {
		primary = keys[0].ID
	}
	if _, ok := kr.aeads[primary]; !ok {
		return nil, fmt.Errorf("secrets: primary key %q is not among the configured keys (%s)", primary, strings.Join(kr.ids, ", "))
	}
	kr.primary = primary
	return kr, nil
}

func validID(id string) error {
	if id == "" {
		return errors.New("empty key id")
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return fmt.Errorf("key id %q may only contain letters, digits, - and _", id)
		}
	}
	return nil
}

// Primary returns the id of the key used for new seals.
func (k *Keyring) Primary() string { return k.primary }

// IDs returns the configured key ids, primary first not guaranteed (configuration order).
func (k *Keyring) IDs() []string { return append([]string(nil), k.ids...) }

// Seal encrypts plaintext under the primary key, authenticating aad as well.
func (k *Keyring) Seal(plaintext, aad []byte) (string, error) {
	aead := k.aeads[k.primary]
	buf := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("secrets: reading random nonce: %w", err)
	}
	buf = aead.Seal(buf, buf[:aead.NonceSize()], plaintext, aad)
	return prefix + k.primary + "." + base64.RawURLEncoding.EncodeToString(buf), nil
}

// Open decrypts a value produced by Seal with the same aad.
func (k *Keyring) Open(sealed string, aad []byte) ([]byte, error) {
	id, body, err := split(sealed)
	if err != nil {
		return nil, err
	}
	aead, ok := k.aeads[id]
	if !ok {
		return nil, fmt.Errorf("%w (key id %q; configured: %s)", ErrUnknownKey, id, strings.Join(k.ids, ", "))
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("secrets: sealed value is malformed")
	}
	pt, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], aad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// KeyID returns the id of the key a sealed value was sealed with, so that a background job
// can find values to re-seal after a rotation.
func KeyID(sealed string) (string, error) {
	id, _, err := split(sealed)
	return id, err
}

// NeedsReseal reports whether sealed was sealed with a key other than the primary.
func (k *Keyring) NeedsReseal(sealed string) bool {
	id, err := KeyID(sealed)
	return err == nil && id != k.primary
}

func split(sealed string) (id, body string, err error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return "", "", errors.New("secrets: not a sealed value (expected the v1.<key id>.<data> form)")
	}
	id, body, ok = strings.Cut(rest, ".")
	if !ok || id == "" || body == "" {
		return "", "", errors.New("secrets: sealed value is malformed")
	}
	return id, body, nil
}

// ParseKeys parses "id:base64key" entries separated by commas or newlines. Blank lines and
// lines starting with # are ignored. Standard and URL-safe base64, padded or not, are
// accepted.
func ParseKeys(spec string) ([]Key, error) {
	var keys []Key
	fields := strings.FieldsFunc(spec, func(r rune) bool { return r == ',' || r == '\n' || r == '\r' })
	for i, f := range fields {
		f = strings.TrimSpace(f)
		if f == "" || strings.HasPrefix(f, "#") {
			continue
		}
		id, b64, ok := strings.Cut(f, ":")
		if !ok {
			return nil, fmt.Errorf("secrets: entry %d is not id:base64key (for example k2026:$(openssl rand -base64 32))", i+1)
		}
		id = strings.TrimSpace(id)
		mat, err := decodeKey(strings.TrimSpace(b64))
		if err != nil {
			return nil, fmt.Errorf("secrets: key %q: not base64: write 32 random bytes in base64 (openssl rand -base64 32)", id)
		}
		keys = append(keys, Key{ID: id, Material: mat})
	}
	if len(keys) == 0 {
		return nil, errors.New("secrets: no keys found: give id:base64key entries (generate a key with `openssl rand -base64 32`)")
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("bad base64")
}

// KeyringFromEnv reads keys from the environment variable name.
func KeyringFromEnv(name, primary string) (*Keyring, error) {
	v, ok := os.LookupEnv(name)
	if !ok || strings.TrimSpace(v) == "" {
		return nil, fmt.Errorf("secrets: environment variable %s is not set: set it to id:base64key (generate a key with `openssl rand -base64 32`)", name)
	}
	keys, err := ParseKeys(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return NewKeyring(primary, keys...)
}

// KeyringFromFile reads keys from a file (one id:base64key per line). The file should be
// readable by mcpgate only; a group- or world-readable file is refused.
func KeyringFromFile(path, primary string) (*Keyring, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("secrets: %s is readable by group or others (mode %v): run chmod 600 %s", path, st.Mode().Perm(), path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("secrets: %w", err)
	}
	keys, err := ParseKeys(string(b))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return NewKeyring(primary, keys...)
}
