// Package routepolicy owns what happens to a request on a route once its token is valid:
// the route's rate limits (per caller, then route-wide), its tools section (include,
// exclude, rename) and its CEL policy, including how a JSON-RPC batch is decided as a
// whole. It implements gateway.Interceptor, turning authz results and rate-limit answers
// into gateway verdicts and denials (values, never errors).
//
// It takes its own Options: an already compiled authz.Route, the route's ratelimit.Route
// and the rates it was built from. It reads no configuration; internal/app maps the file
// configuration to Options.
//
// It may import authz, ratelimit, gateway and mcp.
package routepolicy
