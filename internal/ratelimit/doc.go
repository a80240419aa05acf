// Package ratelimit limits request rates with token buckets, per user and per route. The
// Limiter interface lets a shared (Redis) implementation replace the in-memory one when
// several replicas run; the gateway answers a refusal with 429 and Retry-After.
package ratelimit
