package upstream

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
	"github.com/mcpgate/mcpgate/internal/ssrf"
)

// Limits on what discovery reads from a remote server: metadata documents are small (a
// few KB); anything larger, deeper or with more values than this is refused unread.
const (
	maxMetadataBytes = 64 << 10
	maxMetadataList  = 64 // entries of one list (scopes, servers, methods)
)

var metadataJSONLimits = jsonlimit.Limits{MaxDepth: 8, MaxValues: 2048}

// protectedResource is the part of RFC 9728 protected resource metadata mcpgate uses.
type protectedResource struct {
	Resource             string   `json:"resource"`
	AuthorizationServers []string `json:"authorization_servers"`
	ScopesSupported      []string `json:"scopes_supported"`
}

// authServerMetadata is the part of RFC 8414 / OpenID Connect discovery metadata
// mcpgate uses as a client.
type authServerMetadata struct {
	Issuer                            string   `json:"issuer"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	RegistrationEndpoint              string   `json:"registration_endpoint"`
	RevocationEndpoint                string   `json:"revocation_endpoint"`
	ScopesSupported                   []string `json:"scopes_supported"`
	CodeChallengeMethodsSupported     []string `json:"code_challenge_methods_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	ClientIDMetadataDocumentSupported bool     `json:"client_id_metadata_document_supported"`
	// AuthorizationResponseIssParameterSupported (RFC 9207): the callback must carry iss.
	AuthorizationResponseIssParameterSupported bool `json:"authorization_response_iss_parameter_supported"`
}

// canonicalResource is an MCP server URL in the form RFC 8707 and the MCP
// authorization specification compare: lower-case scheme and host, no fragment, no
// trailing slash.
func canonicalResource(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && !strings.EqualFold(u.Scheme, "https") && !strings.EqualFold(u.Scheme, "http")) || u.Host == "" {
		return "", fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	u.Host = strings.ToLower(u.Host)
	u.Fragment, u.RawFragment = "", ""
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// parseProtectedResource decodes protected resource metadata and checks it is the
// metadata of resource (RFC 9728 §3.3: its resource must equal the URL it was looked up
// for; a document naming another resource could send users to an attacker's server).
func parseProtectedResource(b []byte, resource string) (protectedResource, error) {
	var m protectedResource
	if err := jsonlimit.Check(b, metadataJSONLimits); err != nil {
		return m, fmt.Errorf("protected resource metadata: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("protected resource metadata is not a JSON object of the expected shape: %w", err)
	}
	got, err := canonicalResource(m.Resource)
	if err != nil {
		return m, fmt.Errorf("protected resource metadata: resource: %w", err)
	}
	if got != resource {
		return m, fmt.Errorf("protected resource metadata names resource %q, not %q", clipped(m.Resource), resource)
	}
	if len(m.AuthorizationServers) == 0 {
		return m, errors.New("protected resource metadata lists no authorization_servers")
	}
	if len(m.AuthorizationServers) > maxMetadataList || len(m.ScopesSupported) > maxMetadataList {
		return m, errors.New("protected resource metadata lists too many values")
	}
	for _, s := range m.ScopesSupported {
		if !validScopeToken(s) {
			return m, fmt.Errorf("protected resource metadata: %q is not a scope", clipped(s))
		}
	}
	return m, nil
}

// parseAuthServerMetadata decodes authorization server metadata and checks that it is
// issuer's (RFC 8414 §3.3) and usable by an MCP client: an authorization and a token
// endpoint over http(s), and PKCE with S256 advertised (the MCP client must refuse
// otherwise).
func parseAuthServerMetadata(b []byte, issuer string) (authServerMetadata, error) {
	var m authServerMetadata
	if err := jsonlimit.Check(b, metadataJSONLimits); err != nil {
		return m, fmt.Errorf("authorization server metadata: %w", err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("authorization server metadata is not a JSON object of the expected shape: %w", err)
	}
	if m.Issuer != issuer {
		return m, fmt.Errorf("authorization server metadata names issuer %q, not %q", clipped(m.Issuer), issuer)
	}
	for _, e := range []struct{ name, v string }{{"authorization_endpoint", m.AuthorizationEndpoint}, {"token_endpoint", m.TokenEndpoint}} {
		if !httpURL(e.v) {
			return m, fmt.Errorf("authorization server metadata: %s %q is not an absolute http(s) URL", e.name, clipped(e.v))
		}
	}
	for _, e := range []struct{ name, v string }{{"registration_endpoint", m.RegistrationEndpoint}, {"revocation_endpoint", m.RevocationEndpoint}} {
		if e.v != "" && !httpURL(e.v) {
			return m, fmt.Errorf("authorization server metadata: %s %q is not an absolute http(s) URL", e.name, clipped(e.v))
		}
	}
	if len(m.ScopesSupported) > 4*maxMetadataList || len(m.CodeChallengeMethodsSupported) > maxMetadataList || len(m.TokenEndpointAuthMethodsSupported) > maxMetadataList {
		return m, errors.New("authorization server metadata lists too many values")
	}
	if !slices.Contains(m.CodeChallengeMethodsSupported, "S256") {
		return m, errors.New("authorization server metadata does not list S256 in code_challenge_methods_supported (PKCE is required)")
	}
	return m, nil
}

func httpURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil
}

// validScopeToken reports whether s is an RFC 6749 §3.3 scope token.
func validScopeToken(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}

func clipped(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}

// discovered is what discovery learned of an MCP server.
type discovered struct {
	Resource string
	PRM      protectedResource
	AS       authServerMetadata
}

// metadataFetcher fetches metadata documents through the SSRF guard, bounded in size.
type metadataFetcher struct {
	client *http.Client
	guard  ssrf.Options
}

// get fetches one JSON document; notFound reports a 404 (try the next URL).
func (f *metadataFetcher) get(ctx context.Context, raw string) (b []byte, notFound bool, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, false, err
	}
	if err := ssrf.CheckURL(f.guard, u); err != nil {
		return nil, false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, raw, nil)
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, false, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, true, fmt.Errorf("%s: HTTP 404", raw)
	case resp.StatusCode != http.StatusOK:
		return nil, false, fmt.Errorf("%s: HTTP %d", raw, resp.StatusCode)
	}
	b, err = jsonlimit.Read(resp.Body, maxMetadataBytes, metadataJSONLimits)
	if err != nil {
		return nil, false, fmt.Errorf("%s: %w", raw, err)
	}
	return b, false, nil
}

// discover reads an MCP server's protected resource metadata and its first
// authorization server's metadata.
func (f *metadataFetcher) discover(ctx context.Context, mcpURL string) (discovered, error) {
	resource, err := canonicalResource(mcpURL)
	if err != nil {
		return discovered{}, err
	}
	d := discovered{Resource: resource}
	b, err := f.getFirst(ctx, mcp.ProtectedResourceMetadataURLs(resource))
	if err != nil {
		return d, fmt.Errorf("no protected resource metadata (RFC 9728) for %s: %w", resource, err)
	}
	if d.PRM, err = parseProtectedResource(b, resource); err != nil {
		return d, err
	}
	issuer := d.PRM.AuthorizationServers[0]
	if !httpURL(issuer) {
		return d, fmt.Errorf("authorization server %q is not an absolute http(s) URL", clipped(issuer))
	}
	asURLs, err := mcp.AuthServerMetadataURLs(issuer)
	if err != nil {
		return d, err
	}
	if b, err = f.getFirst(ctx, asURLs); err != nil {
		return d, fmt.Errorf("no authorization server metadata (RFC 8414 or OpenID Connect) for %s: %w", issuer, err)
	}
	if d.AS, err = parseAuthServerMetadata(b, issuer); err != nil {
		return d, err
	}
	return d, nil
}

// getFirst fetches the first of urls that exists, in order: a 404 moves on to the next
// one, any other failure stops. It returns that document, or every error met.
func (f *metadataFetcher) getFirst(ctx context.Context, urls []string) ([]byte, error) {
	var errs []error
	for _, u := range urls {
		b, notFound, err := f.get(ctx, u)
		if err == nil {
			return b, nil
		}
		errs = append(errs, err)
		if !notFound {
			break
		}
	}
	if len(errs) == 0 {
		return nil, errors.New("no URL to try")
	}
	return nil, errors.Join(errs...)
}
