package demo

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/authn"
)

// Identity is whoami's structured result: what this upstream itself received.
type Identity struct {
	// Authenticated reports whether an Authorization header reached the upstream.
	Authenticated bool `json:"authenticated"`
	// TokenType is "jwt", "opaque" or "" (no bearer token).
	TokenType string `json:"tokenType,omitempty"`
	Subject   string `json:"sub,omitempty"`
	Email     string `json:"email,omitempty"`
	Name      string `json:"name,omitempty"`
	Issuer    string `json:"iss,omitempty"`
	// Audience is the token's aud claim (always a list here).
	Audience []string `json:"aud,omitempty"`
	Scope    string   `json:"scope,omitempty"`
	Groups   []string `json:"groups,omitempty"`
	// Entra claims: the user's object id, tenant, and sign-in name (upn in v1 tokens,
	// preferred_username in v2).
	ObjectID          string `json:"oid,omitempty"`
	TenantID          string `json:"tid,omitempty"`
	UPN               string `json:"upn,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	// Headers are the X-Mcp-User-* identity headers, canonical names.
	Headers map[string]string `json:"headers,omitempty"`
}

// NewWhoamiServer returns the whoami demo MCP server.
func NewWhoamiServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "mcpgate-demo-whoami", Version: "1.0.0"}, nil)
	mcp.AddTool(s, &mcp.Tool{
		Name: "whoami",
		Description: "Report the identity and token audience this upstream server received from the gateway " +
			"(JWT claims decoded without verification, and X-Mcp-User-* headers).",
		Annotations:  readOnlyTool("Who am I (as seen upstream)"),
		OutputSchema: outputSchema[Identity](),
	}, func(_ context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, Identity, error) {
		var h http.Header
		if req.Extra != nil {
			h = req.Extra.Header
		}
		id := IdentityFromHeader(h)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: id.String()}}}, id, nil
	})
	return s
}

// Whoami returns the whoami demo server as a Streamable HTTP handler.
func Whoami(o *Options) http.Handler { return handler(NewWhoamiServer(), o) }

// IdentityFromHeader reads the identity the request carries. The JWT is decoded, not verified.
func IdentityFromHeader(h http.Header) Identity {
	var id Identity
	for k, v := range h {
		if strings.HasPrefix(http.CanonicalHeaderKey(k), "X-Mcp-User-") && len(v) > 0 {
			if id.Headers == nil {
				id.Headers = map[string]string{}
			}
			id.Headers[http.CanonicalHeaderKey(k)] = strings.Join(v, ", ")
		}
	}
	tok, ok := authn.BearerToken(h.Get("Authorization"))
	if !ok {
		return id
	}
	id.Authenticated = true
	id.TokenType = "opaque"
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return id
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return id
	}
	var c struct {
		Sub    string          `json:"sub"`
		Email  string          `json:"email"`
		Name   string          `json:"name"`
		Iss    string          `json:"iss"`
		Aud    json.RawMessage `json:"aud"`
		Scope  string          `json:"scope"`
		Scp    json.RawMessage `json:"scp"`
		Groups []string        `json:"groups"`
		OID    string          `json:"oid"`
		TID    string          `json:"tid"`
		UPN    string          `json:"upn"`
		PUN    string          `json:"preferred_username"`
	}
	if json.Unmarshal(b, &c) != nil {
		return id
	}
	id.TokenType = "jwt"
	id.Subject, id.Email, id.Name, id.Issuer, id.Groups = c.Sub, c.Email, c.Name, c.Iss, c.Groups
	id.Audience = stringOrList(c.Aud)
	id.ObjectID, id.TenantID, id.UPN, id.PreferredUsername = c.OID, c.TID, c.UPN, c.PUN
	id.Scope = c.Scope
	if id.Scope == "" {
		id.Scope = strings.Join(stringOrList(c.Scp), " ")
	}
	return id
}

func stringOrList(raw json.RawMessage) []string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" {
			return nil
		}
		return strings.Fields(s)
	}
	var l []string
	_ = json.Unmarshal(raw, &l)
	return l
}

// String renders the identity for people.
func (id Identity) String() string {
	var b strings.Builder
	if !id.Authenticated {
		b.WriteString("No bearer token reached this upstream.\n")
	} else {
		fmt.Fprintf(&b, "Token type: %s\n", id.TokenType)
		if id.TokenType == "jwt" {
			fmt.Fprintf(&b, "Subject:    %s\n", id.Subject)
			if id.Email != "" {
				fmt.Fprintf(&b, "Email:      %s\n", id.Email)
			}
			if id.Name != "" {
				fmt.Fprintf(&b, "Name:       %s\n", id.Name)
			}
			if id.UPN != "" {
				fmt.Fprintf(&b, "UPN:        %s\n", id.UPN)
			}
			if id.PreferredUsername != "" {
				fmt.Fprintf(&b, "Username:   %s\n", id.PreferredUsername)
			}
			if id.ObjectID != "" {
				fmt.Fprintf(&b, "Object id:  %s (tenant %s)\n", id.ObjectID, id.TenantID)
			}
			fmt.Fprintf(&b, "Issuer:     %s\n", id.Issuer)
			fmt.Fprintf(&b, "Audience:   %s\n", strings.Join(id.Audience, ", "))
			if id.Scope != "" {
				fmt.Fprintf(&b, "Scope:      %s\n", id.Scope)
			}
			if len(id.Groups) > 0 {
				fmt.Fprintf(&b, "Groups:     %s\n", strings.Join(id.Groups, ", "))
			}
		}
	}
	if len(id.Headers) > 0 {
		b.WriteString("Identity headers:\n")
		keys := make([]string, 0, len(id.Headers))
		for k := range id.Headers {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(&b, "  %s: %s\n", k, id.Headers[k])
		}
	}
	return strings.TrimRight(b.String(), "\n")
}
