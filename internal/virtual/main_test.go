package virtual_test

import (
	"os"
	"testing"
)

// stdioTmp holds the stdio server built for this test binary.
var stdioTmp string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "virtual-test-")
	if err != nil {
		panic(err)
	}
	stdioTmp = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
