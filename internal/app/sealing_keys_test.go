package app

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/config"
)

// TestLoadKeys: upstreamCredentials.secrets names the variable; without keys the error
// names the section (moved from internal/authserver/federation with LoadKeys).
func TestLoadKeys(t *testing.T) {
	t.Setenv("FED_TEST_KEYS", "k1:"+base64.StdEncoding.EncodeToString(make([]byte, 32)))
	t.Setenv(config.DefaultSecretKeysEnv, "")
	cfg := &config.Config{UpstreamCredentials: &config.UpstreamCredentials{Secrets: &config.SecretKeys{KeysEnv: "FED_TEST_KEYS"}}}
	kr, err := LoadSealingKeys(cfg)
	if err != nil || kr.Primary() != "k1" {
		t.Fatalf("LoadKeys = %v, %v", kr, err)
	}
	if _, err := LoadSealingKeys(&config.Config{}); err == nil || !strings.Contains(err.Error(), "upstreamCredentials.secrets") {
		t.Fatalf("without keys: %v", err)
	}
}
