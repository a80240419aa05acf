// Package ratelimit limits request rates with token buckets, per user and per route. Memory
// keeps the buckets in the process (one replica); Redis keeps them in Redis, so that every
// replica shares them (store.redis). Both implement Limiter with the same semantics; the
// gateway answers a refusal with 429 and Retry-After, and lets a request through when a
// shared limiter fails (docs/policy.md, "Rate limits").
package ratelimit
