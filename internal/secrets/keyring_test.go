package secrets

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func key(t *testing.T, id string) Key {
	t.Helper()
	b := make([]byte, KeySize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return Key{ID: id, Material: b}
}

func TestSealOpenRoundTripAndNoPlaintext(t *testing.T) {
	kr, err := NewKeyring("", key(t, "k1"))
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("refresh-token-PLAINTEXT-4f9a")
	aad := []byte("connection|alice|github")
	s1, err := kr.Seal(secret, aad)
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := kr.Seal(secret, aad)
	if s1 == s2 {
		t.Fatal("two seals of the same value are identical: nonce is not random")
	}
	if strings.Contains(s1, "PLAINTEXT") || bytes.Contains(mustB64(t, s1), secret) {
		t.Fatal("sealed value contains the plaintext")
	}
	if !strings.HasPrefix(s1, "v1.k1.") {
		t.Fatalf("sealed value %q does not carry its key id", s1)
	}
	got, err := kr.Open(s1, aad)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("Open = %q, %v", got, err)
	}
}

func mustB64(t *testing.T, sealed string) []byte {
	parts := strings.SplitN(sealed, ".", 3)
	b, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenFailures(t *testing.T) {
	k1 := key(t, "k1")
	kr, _ := NewKeyring("", k1)
	sealed, _ := kr.Seal([]byte("secret"), []byte("ctx"))
	wrongMaterial, _ := NewKeyring("", Key{ID: "k1", Material: key(t, "x").Material})
	otherID, _ := NewKeyring("", key(t, "k2"))
	tampered := sealed[:len(sealed)-2] + "AA"
	if tampered == sealed {
		tampered = sealed[:len(sealed)-2] + "BB"
	}
	tests := []struct {
		name   string
		kr     *Keyring
		sealed string
		aad    string
		want   error
	}{
		{"wrong key material", wrongMaterial, sealed, "ctx", ErrOpen},
		{"key id not configured", otherID, sealed, "ctx", ErrUnknownKey},
		{"wrong context", kr, sealed, "other-row", ErrOpen},
		{"tampered", kr, tampered, "ctx", ErrOpen},
		{"not sealed", kr, "plain", "ctx", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt, err := tt.kr.Open(tt.sealed, []byte(tt.aad))
			if err == nil {
				t.Fatalf("Open succeeded: %q", pt)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") && !strings.Contains(err.Error(), "secrets:") {
				t.Fatalf("error leaks plaintext: %v", err)
			}
		})
	}
}

func TestRotation(t *testing.T) {
	old, nw := key(t, "2025"), key(t, "2026")
	before, _ := NewKeyring("", old)
	sealedOld, _ := before.Seal([]byte("v"), nil)

	after, err := NewKeyring("2026", old, nw)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := after.Open(sealedOld, nil); err != nil || string(got) != "v" {
		t.Fatalf("old value does not open after rotation: %v", err)
	}
	if !after.NeedsReseal(sealedOld) {
		t.Fatal("old value should need a reseal")
	}
	sealedNew, _ := after.Seal([]byte("v"), nil)
	if id, _ := KeyID(sealedNew); id != "2026" {
		t.Fatalf("new seal used key %q, want the primary 2026", id)
	}
	if after.NeedsReseal(sealedNew) {
		t.Fatal("new value should not need a reseal")
	}
	// Once the old key is retired, old values no longer open.
	retired, _ := NewKeyring("", nw)
	if _, err := retired.Open(sealedOld, nil); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("err = %v, want ErrUnknownKey", err)
	}
}

func TestParseKeysAndSources(t *testing.T) {
	a, b := key(t, "a"), key(t, "b")
	spec := "# keys\na:" + base64.StdEncoding.EncodeToString(a.Material) + "\n b:" + base64.RawURLEncoding.EncodeToString(b.Material) + "\n"
	keys, err := ParseKeys(spec)
	if err != nil || len(keys) != 2 || keys[0].ID != "a" || !bytes.Equal(keys[1].Material, b.Material) {
		t.Fatalf("ParseKeys = %v, %v", keys, err)
	}
	bad := []struct{ name, spec, want string }{
		{"no colon", "abc", "not id:base64key"},
		{"short key", "a:" + base64.StdEncoding.EncodeToString([]byte("short")), "needs exactly 32"},
		{"not base64", "a:!!!", "not base64"},
		{"empty", "\n# nothing\n", "no keys"},
		{"bad id", "a b:" + base64.StdEncoding.EncodeToString(a.Material), "may only contain"},
		{"dup", "a:" + base64.StdEncoding.EncodeToString(a.Material) + ",a:" + base64.StdEncoding.EncodeToString(a.Material), "twice"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseKeys(tt.spec)
			if err == nil {
				_, err = NewKeyring("", keys...)
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := NewKeyring("zz", a); err == nil || !strings.Contains(err.Error(), "primary key \"zz\"") {
		t.Fatalf("unknown primary accepted: %v", err)
	}

	t.Setenv("TEST_MCPGATE_KEYS", spec)
	kr, err := KeyringFromEnv("TEST_MCPGATE_KEYS", "b")
	if err != nil || kr.Primary() != "b" {
		t.Fatalf("KeyringFromEnv = %v, %v", kr, err)
	}
	if _, err := KeyringFromEnv("TEST_MCPGATE_KEYS_UNSET", ""); err == nil || !strings.Contains(err.Error(), "not set") {
		t.Fatalf("unset env: %v", err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "keys")
	os.WriteFile(p, []byte(spec), 0o644)
	if _, err := KeyringFromFile(p, ""); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key file accepted: %v", err)
	}
	os.Chmod(p, 0o600)
	if kr, err := KeyringFromFile(p, ""); err != nil || kr.Primary() != "a" {
		t.Fatalf("KeyringFromFile = %v, %v", kr, err)
	}
}

// TestLoad: a keys file takes precedence over the environment variable; without a file
// the variable is read.
func TestLoad(t *testing.T) {
	a, b := key(t, "a"), key(t, "b")
	t.Setenv("TEST_MCPGATE_LOAD_KEYS", "b:"+base64.StdEncoding.EncodeToString(b.Material))
	p := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(p, []byte("a:"+base64.StdEncoding.EncodeToString(a.Material)), 0o600); err != nil {
		t.Fatal(err)
	}
	if kr, err := Load(Source{File: p, Env: "TEST_MCPGATE_LOAD_KEYS"}); err != nil || kr.Primary() != "a" {
		t.Fatalf("file and env: %v, %v", kr, err)
	}
	if kr, err := Load(Source{Env: "TEST_MCPGATE_LOAD_KEYS"}); err != nil || kr.Primary() != "b" {
		t.Fatalf("env: %v, %v", kr, err)
	}
	if _, err := Load(Source{Env: "TEST_MCPGATE_LOAD_KEYS_UNSET"}); err == nil || !strings.Contains(err.Error(), "TEST_MCPGATE_LOAD_KEYS_UNSET") {
		t.Fatalf("unset env: %v", err)
	}
}
