package ruleexpr

import (
	"encoding/json"
	"time"

	"cel.dev/cel-go/interpreter"
)

// User is the verified caller (the `user` variable). The zero User is an anonymous caller.
// (It mirrors authn.Principal; authz.UserFrom converts. This package cannot import authn,
// which depends on config, which type-checks rules with this package.)
type User struct {
	Subject  string
	Email    string
	Name     string
	Groups   []string
	Roles    []string
	Scopes   []string
	Issuer   string
	TenantID string
	// Claims holds every claim of the token.
	Claims map[string]any

	c valCache
}

// Client is the OAuth client behind a request (the `client` variable).
type Client struct {
	// ID is the OAuth client_id.
	ID string
	// Dynamic is true when the client was registered dynamically (RFC 7591) or identified by
	// a client ID metadata document rather than configured by an administrator.
	Dynamic bool
}

// MCP is the MCP request being decided (the `mcp` variable).
type MCP struct {
	// Method is the JSON-RPC method (tools/call, prompts/get, resources/read, ...).
	Method string
	// Tool is params.name of a tools/call.
	Tool string
	// Prompt is params.name of a prompts/get.
	Prompt string
	// URI is params.uri of resources/read (and resources/subscribe).
	URI string
	// Arguments are the tool (or prompt) arguments. When nil and RawArguments is set, they are
	// decoded from RawArguments the first time a rule reads them, so rules that never look
	// at arguments cost no JSON decoding.
	Arguments map[string]any
	// RawArguments is params.arguments as JSON.
	RawArguments json.RawMessage

	c valCache
}

func (m *MCP) arguments() map[string]any {
	if m.Arguments == nil && len(m.RawArguments) > 0 {
		var args map[string]any
		if json.Unmarshal(m.RawArguments, &args) == nil && args != nil {
			m.Arguments = args
		} else {
			m.Arguments = map[string]any{}
		}
	}
	if m.Arguments == nil {
		return emptyArgs
	}
	return m.Arguments
}

var emptyArgs = map[string]any{}

// Request is the HTTP request context (the `request` variable).
type Request struct {
	// Route is the route name.
	Route string
	// IP is the client's source IP (after trusted-proxy handling).
	IP string
	// Time is when the request arrived.
	Time time.Time

	c valCache
}

// Vars holds the values of every rule variable. *Vars is a CEL activation: programs resolve
// user, client, mcp and request straight from it, with no map built per decision. A Vars is
// used by one goroutine at a time, and its fields must not be modified once a rule has
// read them (the values are cached), except by assigning a whole new User, Client, MCP or
// Request.
type Vars struct {
	// User is the caller; the zero value is anonymous.
	User    User
	Client  Client
	MCP     MCP
	Request Request
}

// ResolveName implements interpreter.Activation.
func (v *Vars) ResolveName(name string) (any, bool) {
	switch name {
	case "user":
		return &v.User, true
	case "client":
		return &v.Client, true
	case "mcp":
		return &v.MCP, true
	case "request":
		return &v.Request, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (v *Vars) Parent() interpreter.Activation { return nil }

var _ interpreter.Activation = (*Vars)(nil)
