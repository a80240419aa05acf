// Package rediscache is a Redis implementation of upstream.Cache, so that replicas share
// exchanged tokens. Values are sealed with internal/secrets (bound to their key), so the
// Redis server never holds a usable token in the clear; entries expire with the token.
//
// Single-flight stays per replica: two replicas that miss at the same moment may both
// exchange once (harmless for OBO / token exchange, which have no rotating state).
package rediscache
