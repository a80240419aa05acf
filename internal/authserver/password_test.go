package authserver

import (
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
)

// TestDummyHash checks that the hash checked for unknown users costs what a real one costs:
// the parameters HashPassword uses today, and a hash that verifies.
func TestDummyHash(t *testing.T) {
	params := fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$", argon2.Version, argonMemory, argonTime, argonThreads)
	if !strings.HasPrefix(dummyHash, params) {
		t.Fatalf("dummyHash %q does not use HashPassword's parameters %q: regenerate it with HashPassword", dummyHash, params)
	}
	ok, err := CheckPassword(dummyHash, "mcpgate-dummy-password")
	if err != nil || !ok {
		t.Fatalf("CheckPassword(dummyHash) = %v, %v; want true, nil", ok, err)
	}
}
