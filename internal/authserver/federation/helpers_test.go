package federation

import (
	"crypto/rand"
	"testing"

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
