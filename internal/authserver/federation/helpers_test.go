package federation

import (
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/secrets"
)

func keyring(t *testing.T) *secrets.Keyring {
	k := make([]byte, 32)
	rand.Read(k)
	kr, err := secrets.NewKeyring("k1", secrets.Key{ID: "k1", Material: k})
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestLoadKeys(t *testing.T) {
	t.Setenv("FED_TEST_KEYS", "k1:"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
	t.Setenv(config.DefaultSecretKeysEnv, "")
	cfg := &config.Config{UpstreamCredentials: &config.UpstreamCredentials{Secrets: &config.SecretKeys{KeysEnv: "FED_TEST_KEYS"}}}
	kr, err := LoadKeys(cfg)
	if err != nil || kr.Primary() != "k1" {
		t.Fatalf("LoadKeys = %v, %v", kr, err)
	}
	if _, err := LoadKeys(&config.Config{}); err == nil || !strings.Contains(err.Error(), "upstreamCredentials.secrets") {
		t.Fatalf("without keys: %v", err)
	}
}
