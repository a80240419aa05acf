// Package mcpsession records who owns each MCP session (the Mcp-Session-Id an upstream
// hands out at initialize), so that the gateway can refuse a session id presented by
// anyone else: the id is a bearer handle, and an upstream that trusts it would let one
// user act in another's session.
//
// A binding ties (route, session id) to an owner (the principal's issuer, subject and
// client, hashed) and counts against its user's session cap. Bindings expire after an
// idle period and end with DELETE. Memory keeps them per process; Redis shares them
// between replicas (store.redis). Both pass the same conformance tests.
package mcpsession
