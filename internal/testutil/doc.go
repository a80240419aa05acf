// Package testutil holds helpers shared by mcpgate's tests: locating the Node interop
// packages, headless Chromium, PostgreSQL and Redis, and skipping loudly when one is
// missing. When MCPGATE_REQUIRE_INTEROP=1 (set by .ci/run) a missing dependency fails the
// test instead of skipping it, so CI always exercises the real parts.
package testutil
