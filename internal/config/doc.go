// Package config is mcpgate's file configuration: YAML with ${VAR} / ${VAR:-default}
// expansion in scalar values only, strict decoding (an unknown key is an error naming its
// line, column and the closest valid key), defaults, and a Validate that reports every
// problem at once. Each subsystem's section lives in its own file (gateway.go, authn.go,
// authserver.go, ...) and validates itself.
//
// The file layer is decoded here; the runtime packages (gateway, authn, authserver, ...)
// take their own option types, built from these values in internal/cli.
package config
