// Package store persists the authorization server's state: clients, pending authorization
// requests and codes, refresh-token families, device authorizations, consents, signing keys,
// named server secrets shared by every replica (the cookie and CSRF key), users,
// login-attempt counters and revoked access tokens.
//
// One interface, Store, has two backends in this package: Memory (tests, demos) and SQLite
// (the embedded default, pure Go, WAL). The SQL is plain enough for PostgreSQL to share the
// schema. Every backend must pass storetest.Run. Lookups that find nothing return an error
// wrapping ErrNotFound; updates that must not race use compare-and-swap (UseRefreshToken,
// Update* with a mutate function).
package store
