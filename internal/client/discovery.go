package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/mcpgate/mcpgate/internal/jsonlimit"
	"github.com/mcpgate/mcpgate/internal/mcp"
)

// ResourceMetadata is RFC 9728 Protected Resource Metadata (the fields a client uses).
type ResourceMetadata struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	ScopesSupported      []string `json:"scopes_supported,omitempty"`
	ResourceName         string   `json:"resource_name,omitempty"`

	// Source is the URL the metadata came from.
	Source string `json:"-"`
}

// ServerMetadata is RFC 8414 / OpenID Connect discovery metadata (the fields a client uses).
type ServerMetadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint,omitempty"`
	TokenEndpoint                     string   `json:"token_endpoint,omitempty"`
	RegistrationEndpoint              string   `json:"registration_endpoint,omitempty"`
	DeviceAuthorizationEndpoint       string   `json:"device_authorization_endpoint,omitempty"`
	RevocationEndpoint                string   `json:"revocation_endpoint,omitempty"`
	JWKSURI                           string   `json:"jwks_uri,omitempty"`
	ScopesSupported                   []string `json:"scopes_supported,omitempty"`
	GrantTypesSupported               []string `json:"grant_types_supported,omitempty"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported,omitempty"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	ClientIDMetadataDocumentSupported bool     `json:"client_id_metadata_document_supported,omitempty"`
	// AuthorizationResponseIssParameterSupported says authorization responses carry iss
	// (RFC 9207), so a response without it is refused.
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported,omitempty"`

	// Source is the URL the metadata came from ("" when endpoints are the 2025-03-26 defaults).
	Source string `json:"-"`
}

// Challenge is what a 401/403 WWW-Authenticate Bearer challenge told us.
type Challenge struct {
	// Status is the HTTP status that carried the challenge (0 when there was none).
	Status           int
	ResourceMetadata string
	Scope            string
	Error            string
	Description      string
}

// ParseChallenge reads the Bearer challenge of a response's WWW-Authenticate headers.
// A missing or unparsable header gives an empty Challenge; a malformed challenge does not
// hide a Bearer one next to it.
func ParseChallenge(h http.Header) Challenge {
	for _, c := range parseChallenges(h.Values("WWW-Authenticate")) {
		if c.scheme != "bearer" {
			continue
		}
		return Challenge{
			ResourceMetadata: c.params["resource_metadata"],
			Scope:            c.params["scope"],
			Error:            c.params["error"],
			Description:      c.params["error_description"],
		}
	}
	return Challenge{}
}

// CanonicalResource returns the RFC 8707 canonical form of an MCP server URL: lowercase scheme
// and host, no fragment, no query-less trailing slash.
func CanonicalResource(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parsing server URL %q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("server URL %q must be an absolute http(s) URL", raw)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	u.Fragment = ""
	u.RawFragment = ""
	u.User = nil
	if u.Path == "/" {
		u.Path = ""
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// resourceMatches reports whether the PRM resource identifies serverURL: the same canonical URL,
// or a parent of it at a path boundary (a PRM for a whole host or prefix).
func resourceMatches(prmResource, serverURL string) bool {
	a, err1 := CanonicalResource(prmResource)
	b, err2 := CanonicalResource(serverURL)
	if err1 != nil || err2 != nil {
		return false
	}
	if a == b {
		return true
	}
	ua, _ := url.Parse(a)
	ub, _ := url.Parse(b)
	if ua.Scheme != ub.Scheme || ua.Host != ub.Host || ua.RawQuery != "" {
		return false
	}
	return ua.Path == "" || strings.HasPrefix(ub.Path, ua.Path+"/")
}

// ErrNotFound marks a metadata document that is absent (404 and friends), as opposed to one
// that is broken.
var ErrNotFound = errors.New("metadata not found")

func (c *Client) getJSON(ctx context.Context, rawURL string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("MCP-Protocol-Version", LatestProtocolVersion)
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("fetching %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		if resp.StatusCode >= 400 && resp.StatusCode < 500 {
			return fmt.Errorf("fetching %s: HTTP %d: %w", rawURL, resp.StatusCode, ErrNotFound)
		}
		return fmt.Errorf("fetching %s: HTTP %d", rawURL, resp.StatusCode)
	}
	body, err := jsonlimit.Read(resp.Body, maxResponseBytes, jsonlimit.Limits{})
	if err != nil {
		return fmt.Errorf("reading %s: %w", rawURL, err)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("decoding %s: %w", rawURL, err)
	}
	return nil
}

// PRMCandidates lists where a client looks for the Protected Resource Metadata of serverURL,
// in order: the challenge's resource_metadata URL (headerURL, may be empty), the path-inserted
// well-known URL, then the root one (RFC 9728 §3.1, MCP 2025-11-25).
func PRMCandidates(serverURL, headerURL string) []string { return prmCandidates(serverURL, headerURL) }

// ASCandidates lists the metadata URLs of an authorization server issuer in the order a client
// tries them (RFC 8414 first, then OpenID Connect discovery; MCP 2025-11-25).
func ASCandidates(issuer string) ([]string, error) { return mcp.AuthServerMetadataURLs(issuer) }

// prmCandidates lists where to look for PRM: the challenge URL, then the path-inserted
// well-known URL, then the root one.
func prmCandidates(serverURL, headerURL string) []string {
	var out []string
	if headerURL != "" {
		out = append(out, headerURL)
	}
	return dedupe(append(out, mcp.ProtectedResourceMetadataURLs(serverURL)...))
}

// DiscoverResource fetches the server's PRM. It returns (nil, nil) when the server publishes
// none (a 2025-03-26 server), and an error when the PRM is broken or names another resource.
func (c *Client) DiscoverResource(ctx context.Context, ch Challenge) (*ResourceMetadata, error) {
	for _, cand := range prmCandidates(c.opts.ServerURL, ch.ResourceMetadata) {
		var prm ResourceMetadata
		err := c.getJSON(ctx, cand, &prm)
		if errors.Is(err, ErrNotFound) {
			c.log().Debug("no protected resource metadata", "url", cand)
			continue
		}
		if err != nil {
			return nil, err
		}
		if prm.Resource == "" {
			return nil, fmt.Errorf("protected resource metadata at %s has no \"resource\"", cand)
		}
		if !resourceMatches(prm.Resource, c.opts.ServerURL) {
			return nil, &ResourceMismatchError{Metadata: cand, Resource: prm.Resource, ServerURL: c.opts.ServerURL}
		}
		prm.Source = cand
		c.log().Debug("protected resource metadata", "url", cand, "resource", prm.Resource, "authorization_servers", prm.AuthorizationServers)
		return &prm, nil
	}
	return nil, nil
}

// ResourceMismatchError is the refusal to sign in when a server's PRM names another resource:
// a token minted for it could be replayed elsewhere.
type ResourceMismatchError struct{ Metadata, Resource, ServerURL string }

func (e *ResourceMismatchError) Error() string {
	return fmt.Sprintf("refusing to sign in: the protected resource metadata at %s is for %q, not for %q; "+
		"check the server URL, or ask the server operator to fix the metadata's \"resource\"",
		e.Metadata, e.Resource, e.ServerURL)
}

// DiscoverServer fetches the metadata of the authorization server issuer and checks its issuer.
func (c *Client) DiscoverServer(ctx context.Context, issuer string) (*ServerMetadata, error) {
	cands, err := mcp.AuthServerMetadataURLs(issuer)
	if err != nil {
		return nil, err
	}
	for _, cand := range cands {
		var m ServerMetadata
		err := c.getJSON(ctx, cand, &m)
		if errors.Is(err, ErrNotFound) {
			c.log().Debug("no authorization server metadata", "url", cand)
			continue
		}
		if err != nil {
			return nil, err
		}
		if strings.TrimSuffix(m.Issuer, "/") != strings.TrimSuffix(issuer, "/") {
			return nil, fmt.Errorf("authorization server metadata at %s names issuer %q, expected %q (RFC 8414 §3.3); "+
				"the metadata or the protected resource's authorization_servers is misconfigured", cand, m.Issuer, issuer)
		}
		if m.AuthorizationEndpoint == "" || m.TokenEndpoint == "" {
			return nil, fmt.Errorf("authorization server metadata at %s lacks authorization_endpoint or token_endpoint", cand)
		}
		if err := m.checkEndpoints(); err != nil {
			return nil, fmt.Errorf("authorization server metadata at %s: %w", cand, err)
		}
		m.Source = cand
		return &m, nil
	}
	return nil, fmt.Errorf("authorization server %s publishes no metadata (tried %s)", issuer, strings.Join(cands, ", "))
}

// legacyServer is the 2025-03-26 fallback for servers without PRM: the AS is the MCP server's
// origin, with metadata at its root, or else default endpoints.
func (c *Client) legacyServer(ctx context.Context) (*ServerMetadata, error) {
	u, err := url.Parse(c.opts.ServerURL)
	if err != nil {
		return nil, err
	}
	base := u.Scheme + "://" + u.Host
	var m ServerMetadata
	err = c.getJSON(ctx, base+"/.well-known/oauth-authorization-server", &m)
	switch {
	case err == nil:
		if m.AuthorizationEndpoint == "" || m.TokenEndpoint == "" {
			return nil, fmt.Errorf("authorization server metadata at %s lacks endpoints", base)
		}
		if err := m.checkEndpoints(); err != nil {
			return nil, fmt.Errorf("authorization server metadata at %s: %w", base, err)
		}
		m.Source = base + "/.well-known/oauth-authorization-server"
		return &m, nil
	case errors.Is(err, ErrNotFound):
		c.log().Info("server publishes no OAuth metadata; using the 2025-03-26 default endpoints", "base", base)
		return &ServerMetadata{
			Issuer:                base,
			AuthorizationEndpoint: base + "/authorize",
			TokenEndpoint:         base + "/token",
			RegistrationEndpoint:  base + "/register",
		}, nil
	default:
		return nil, err
	}
}

func dedupe(in []string) []string {
	var out []string
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// checkEndpoints requires https for every endpoint that receives codes, secrets or tokens,
// except on loopback hosts (OAuth 2.1 §1.5).
func (m *ServerMetadata) checkEndpoints() error {
	for name, raw := range map[string]string{
		"authorization_endpoint":        m.AuthorizationEndpoint,
		"token_endpoint":                m.TokenEndpoint,
		"registration_endpoint":         m.RegistrationEndpoint,
		"device_authorization_endpoint": m.DeviceAuthorizationEndpoint,
		"revocation_endpoint":           m.RevocationEndpoint,
	} {
		if raw == "" {
			continue
		}
		u, err := url.Parse(raw)
		if err != nil || u.Host == "" {
			return fmt.Errorf("%s %q is not an absolute URL", name, raw)
		}
		if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
			return fmt.Errorf("%s %q must use https (plain http is only accepted on loopback hosts)", name, raw)
		}
	}
	return nil
}
