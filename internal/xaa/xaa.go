package xaa

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/mcp"
)

// Token and grant type identifiers.
const (
	TokenTypeIDJAG     = "urn:ietf:params:oauth:token-type:id-jag"
	SubjectIDToken     = "urn:ietf:params:oauth:token-type:id_token"
	SubjectRefresh     = "urn:ietf:params:oauth:token-type:refresh_token"
	GrantTokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange"
	GrantJWTBearer     = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	GrantProfileIDJAG  = "urn:ietf:params:oauth:grant-profile:id-jag"
)

// maxBody bounds a token or metadata response.
const maxBody = 1 << 20

// Credentials are a confidential client's token endpoint and secret.
type Credentials struct {
	// TokenURL is the token endpoint; empty for a resource AS (discovered).
	TokenURL     string
	ClientID     string
	ClientSecret string
}

// Error is an OAuth error response (RFC 6749 §5.2) from a token endpoint.
type Error struct {
	Status      int
	Code        string
	Description string
}

func (e *Error) Error() string {
	if e.Description != "" {
		return fmt.Sprintf("%s: %s (HTTP %d)", e.Code, e.Description, e.Status)
	}
	return fmt.Sprintf("%s (HTTP %d)", e.Code, e.Status)
}

// ErrNotSupported: the MCP server's authorization server does not advertise the ID-JAG grant
// profile; use the ordinary authorization code flow instead.
var ErrNotSupported = errors.New("xaa: the authorization server does not support enterprise-managed authorization (no id-jag grant profile)")

// IDJAGRequest asks the IdP for an ID-JAG.
type IDJAGRequest struct {
	IdP Credentials
	// SubjectToken is the user's ID token (SubjectIDToken) or IdP refresh token (SubjectRefresh).
	SubjectToken, SubjectTokenType string
	// Audience is the resource authorization server's issuer; Resource the MCP server URL.
	Audience, Resource string
	// Scopes requested (optional).
	Scopes []string
}

// IDJAG is an issued ID-JAG.
type IDJAG struct {
	Assertion string
	Scopes    []string
	Expiry    time.Time
}

// Token is an access token for an MCP server.
type Token struct {
	AccessToken string
	TokenType   string
	Scopes      []string
	Expiry      time.Time
}

type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	IssuedTokenType string `json:"issued_token_type"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int    `json:"expires_in"`
	Scope           string `json:"scope"`
	Error           string `json:"error"`
	ErrorDesc       string `json:"error_description"`
}

func httpClient(hc *http.Client) *http.Client {
	if hc == nil {
		return &http.Client{Timeout: 30 * time.Second}
	}
	return hc
}

// postToken sends form to tokenURL with client_secret_basic and decodes the response.
func postToken(ctx context.Context, hc *http.Client, tokenURL string, cred Credentials, form url.Values) (*tokenResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	req.SetBasicAuth(url.QueryEscape(cred.ClientID), url.QueryEscape(cred.ClientSecret))
	resp, err := httpClient(hc).Do(req)
	if err != nil {
		return nil, fmt.Errorf("xaa: token request to %s: %w", tokenURL, err)
	}
	defer resp.Body.Close()
	var tr tokenResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&tr); err != nil {
		return nil, fmt.Errorf("xaa: token response from %s (HTTP %d) is not JSON", tokenURL, resp.StatusCode)
	}
	if resp.StatusCode != http.StatusOK || tr.Error != "" {
		return nil, &Error{Status: resp.StatusCode, Code: tr.Error, Description: tr.ErrorDesc}
	}
	if tr.AccessToken == "" {
		return nil, fmt.Errorf("xaa: token response from %s has no access_token", tokenURL)
	}
	return &tr, nil
}

func expiry(sec int) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	return time.Now().Add(time.Duration(sec) * time.Second)
}

// RequestIDJAG exchanges the user's IdP token for an ID-JAG (RFC 8693 at the IdP).
func RequestIDJAG(ctx context.Context, hc *http.Client, r IDJAGRequest) (*IDJAG, error) {
	if r.SubjectTokenType == "" {
		r.SubjectTokenType = SubjectIDToken
	}
	form := url.Values{"grant_type": {GrantTokenExchange}, "requested_token_type": {TokenTypeIDJAG},
		"subject_token": {r.SubjectToken}, "subject_token_type": {r.SubjectTokenType}, "audience": {r.Audience}}
	if r.Resource != "" {
		form.Set("resource", r.Resource)
	}
	if len(r.Scopes) > 0 {
		form.Set("scope", strings.Join(r.Scopes, " "))
	}
	tr, err := postToken(ctx, hc, r.IdP.TokenURL, r.IdP, form)
	if err != nil {
		return nil, err
	}
	if tr.IssuedTokenType != TokenTypeIDJAG {
		return nil, fmt.Errorf("xaa: the IdP issued %q, not an ID-JAG", tr.IssuedTokenType)
	}
	return &IDJAG{Assertion: tr.AccessToken, Scopes: strings.Fields(tr.Scope), Expiry: expiry(tr.ExpiresIn)}, nil
}

// ExchangeIDJAG presents an ID-JAG at the resource authorization server's token endpoint
// (RFC 7523 jwt-bearer grant) and returns the access token.
func ExchangeIDJAG(ctx context.Context, hc *http.Client, ras Credentials, assertion string, scopes []string) (*Token, error) {
	form := url.Values{"grant_type": {GrantJWTBearer}, "assertion": {assertion}}
	if len(scopes) > 0 {
		form.Set("scope", strings.Join(scopes, " "))
	}
	tr, err := postToken(ctx, hc, ras.TokenURL, ras, form)
	if err != nil {
		return nil, err
	}
	return &Token{AccessToken: tr.AccessToken, TokenType: tr.TokenType, Scopes: strings.Fields(tr.Scope), Expiry: expiry(tr.ExpiresIn)}, nil
}

// Client obtains access tokens for MCP servers through the enterprise IdP.
type Client struct {
	// IdP is the client's registration at the enterprise IdP.
	IdP Credentials
	// ResourceClients are the client's registrations at resource authorization servers, by
	// issuer (TokenURL is discovered when empty).
	ResourceClients map[string]Credentials
	// ResourceClientFor, when set, is asked for servers not in ResourceClients (for example
	// a client registered under the same ID everywhere).
	ResourceClientFor func(issuer string) (Credentials, bool)
	// Scopes requested for every server (optional).
	Scopes []string
	// HTTPClient; nil: a client with a 30s timeout.
	HTTPClient *http.Client
}

// Token returns an access token for the MCP server at mcpURL on behalf of the user whose
// IdP token subject is (of type subjectType: SubjectIDToken or SubjectRefresh). It returns
// ErrNotSupported when the server's authorization server does not offer the ID-JAG profile.
func (c *Client) Token(ctx context.Context, mcpURL, subject, subjectType string) (*Token, error) {
	issuer, tokenURL, err := c.discover(ctx, mcpURL)
	if err != nil {
		return nil, err
	}
	cred, ok := c.ResourceClients[issuer]
	if !ok {
		cred, ok = c.ResourceClients[strings.TrimRight(issuer, "/")]
	}
	if !ok && c.ResourceClientFor != nil {
		cred, ok = c.ResourceClientFor(issuer)
	}
	if !ok {
		return nil, fmt.Errorf("xaa: no client registration for the authorization server %s (ResourceClients)", issuer)
	}
	if cred.TokenURL == "" {
		cred.TokenURL = tokenURL
	}
	jag, err := RequestIDJAG(ctx, c.HTTPClient, IDJAGRequest{IdP: c.IdP, SubjectToken: subject, SubjectTokenType: subjectType,
		Audience: issuer, Resource: mcpURL, Scopes: c.Scopes})
	if err != nil {
		return nil, fmt.Errorf("xaa: obtaining an ID-JAG for %s: %w", mcpURL, err)
	}
	tok, err := ExchangeIDJAG(ctx, c.HTTPClient, cred, jag.Assertion, c.Scopes)
	if err != nil {
		return nil, fmt.Errorf("xaa: exchanging the ID-JAG at %s: %w", issuer, err)
	}
	return tok, nil
}

// discover finds the MCP server's authorization server (RFC 9728, path-inserted then root
// well-known URL) and its token endpoint (RFC 8414, then OpenID Connect discovery), and
// checks that it supports the ID-JAG grant profile.
func (c *Client) discover(ctx context.Context, mcpURL string) (issuer, tokenURL string, err error) {
	u, err := url.Parse(mcpURL)
	if err != nil || !u.IsAbs() {
		return "", "", fmt.Errorf("xaa: %q is not an absolute URL", mcpURL)
	}
	var prm struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
	}
	for _, cand := range mcp.ProtectedResourceMetadataURLs(mcpURL) {
		if err = c.getJSON(ctx, cand, &prm); err == nil {
			break
		}
	}
	if err != nil {
		return "", "", fmt.Errorf("xaa: protected resource metadata of %s: %w", mcpURL, err)
	}
	if len(prm.AuthorizationServers) == 0 {
		return "", "", fmt.Errorf("xaa: %s names no authorization server", mcpURL)
	}
	issuer = prm.AuthorizationServers[0]
	asURLs, err := mcp.AuthServerMetadataURLs(issuer)
	if err != nil {
		return "", "", fmt.Errorf("xaa: %w", err)
	}
	var md struct {
		Issuer        string   `json:"issuer"`
		TokenEndpoint string   `json:"token_endpoint"`
		GrantProfiles []string `json:"authorization_grant_profiles_supported"`
		GrantTypes    []string `json:"grant_types_supported"`
	}
	for _, cand := range asURLs {
		if err = c.getJSON(ctx, cand, &md); err == nil {
			break
		}
	}
	if err != nil {
		return "", "", fmt.Errorf("xaa: metadata of the authorization server %s: %w", issuer, err)
	}
	if strings.TrimRight(md.Issuer, "/") != strings.TrimRight(issuer, "/") {
		return "", "", fmt.Errorf("xaa: the metadata of %s names the issuer %q (RFC 8414 §3.3)", issuer, md.Issuer)
	}
	if !slices.Contains(md.GrantProfiles, GrantProfileIDJAG) {
		return "", "", ErrNotSupported
	}
	return md.Issuer, md.TokenEndpoint, nil
}

func (c *Client) getJSON(ctx context.Context, u string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := httpClient(c.HTTPClient).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: HTTP %d", u, resp.StatusCode)
	}
	return json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(v)
}
