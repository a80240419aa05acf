package main

import (
	"runtime"
	"testing"
)

// initAlloc is what the runtime and every package's initialisation allocated: package-level
// variables of a test file are initialised after all the packages it imports.
var initAlloc = func() uint64 {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.TotalAlloc
}()

// TestInitAllocations bounds what loading mcpgate allocates before main runs. Every command,
// `mcpgate version` included, pays it, and a serving replica keeps what the collector has not
// yet returned. It was 68 MB while the authorization server computed an argon2id hash at
// package initialisation (issue 21) and is about 2 MB; the bound leaves room for growth, not
// for another such table or hash.
func TestInitAllocations(t *testing.T) {
	const limit = 16 << 20
	t.Logf("package initialisation allocated %.1f MB", float64(initAlloc)/1e6)
	if initAlloc > limit {
		t.Fatalf("package initialisation allocated %d bytes, more than %d: run `GODEBUG=inittrace=1 mcpgate version` to see which package", initAlloc, limit)
	}
}
