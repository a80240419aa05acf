// Package interop tests the upstream providers against mcpgate's own identity providers:
// OBO against the Entra ID emulator (internal/authserver/entraemulator) and RFC 8693 token
// exchange against the embedded authorization server (internal/authserver). It is a
// separate package so that the upstream package's own tests do not depend on those
// packages compiling.
package interop
