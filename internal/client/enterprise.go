package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/xaa"
)

// Enterprise configures enterprise-managed authorization (ID-JAG, package xaa): the user
// signs in once at the enterprise IdP, and every MCP server whose authorization server
// supports the ID-JAG grant profile is then reached with no browser. Servers that do not
// support it get the ordinary sign-in.
type Enterprise struct {
	// IdP is the enterprise IdP's issuer URL.
	IdP string
	// ClientID and ClientSecret are this client's registration at the IdP (a confidential
	// client allowed the token-exchange grant). The MCP servers' authorization servers know
	// the client as Options.ClientID / ClientSecret.
	ClientID, ClientSecret string
	// RedirectPort is the loopback port registered at the IdP (confidential clients' redirect
	// URIs match exactly).
	RedirectPort int
}

// idpClient is the Client that keeps the IdP sign-in (cached like any other server, under
// the IdP's URL).
func (c *Client) idpClient() (*Client, error) {
	e := c.opts.Enterprise
	o := c.opts
	o.Enterprise = nil
	o.ServerURL, o.ClientID, o.ClientSecret, o.ClientMetadataURL = e.IdP, e.ClientID, e.ClientSecret, ""
	o.Resource, o.NoResource = "", true
	o.Scopes = []string{"openid", "offline_access"}
	o.RedirectPort = e.RedirectPort
	c2, err := New(o)
	if err != nil {
		return nil, err
	}
	c2.issuerOnly = true
	return c2, nil
}

// enterpriseLogin returns an entry for the MCP server with a token obtained through the IdP,
// signing in at the IdP first if there is no usable IdP sign-in. It returns
// xaa.ErrNotSupported when the server's authorization server does not offer the ID-JAG profile.
func (c *Client) enterpriseLogin(ctx context.Context) (*Entry, error) {
	idp, err := c.idpClient()
	if err != nil {
		return nil, fmt.Errorf("enterprise IdP: %w", err)
	}
	it, err := idp.Token(ctx)
	if err != nil {
		return nil, err
	}
	if it == nil {
		fmt.Fprintf(c.opts.Prompt, "Signing in at the enterprise IdP %s (once for every MCP server).\n", c.opts.Enterprise.IdP)
		if it, err = idp.Login(ctx, Challenge{}, "", false); err != nil {
			return nil, fmt.Errorf("signing in at the enterprise IdP: %w", err)
		}
	}
	ie, err := idp.Entry()
	if err != nil || ie == nil {
		return nil, errors.Join(err, errors.New("the enterprise IdP sign-in was not cached"))
	}
	subject, subjectType := it.IDToken, xaa.SubjectIDToken
	if subject == "" || jwtExpiresWithin(subject, time.Minute) {
		if it.RefreshToken == "" {
			return nil, errors.New("the enterprise IdP sign-in has no valid ID token and no refresh token; run mcpgate login --enterprise --force")
		}
		subject, subjectType = it.RefreshToken, xaa.SubjectRefresh
	}
	xc := &xaa.Client{
		IdP: xaa.Credentials{TokenURL: ie.Server.TokenEndpoint, ClientID: c.opts.Enterprise.ClientID, ClientSecret: c.opts.Enterprise.ClientSecret},
		ResourceClientFor: func(string) (xaa.Credentials, bool) {
			return xaa.Credentials{ClientID: c.opts.ClientID, ClientSecret: c.opts.ClientSecret}, c.opts.ClientID != ""
		},
		Scopes:     c.opts.Scopes,
		HTTPClient: c.opts.HTTPClient,
	}
	tok, err := xc.Token(ctx, c.opts.ServerURL, subject, subjectType)
	if err != nil {
		return nil, err
	}
	res, _ := CanonicalResource(c.opts.ServerURL)
	c.log().Info("signed in through the enterprise IdP", "server", c.opts.ServerURL, "token", tokenID(tok.AccessToken))
	return &Entry{
		ServerURL: c.opts.ServerURL, ResourceSetting: c.resourceSetting(), Resource: res,
		Registration: Registration{ClientID: c.opts.ClientID, ClientSecret: c.opts.ClientSecret, AuthMethod: "client_secret_basic", Kind: "enterprise"},
		Scopes:       strings.Join(c.opts.Scopes, " "),
		Token:        Token{AccessToken: tok.AccessToken, TokenType: "Bearer", Scope: strings.Join(tok.Scopes, " "), Expiry: tok.Expiry},
	}, nil
}

// jwtExpiresWithin reports whether a JWT's exp (read without verification) is within d, or
// unreadable.
func jwtExpiresWithin(tok string, d time.Duration) bool {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return true
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return true
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(b, &c) != nil || c.Exp == 0 {
		return true
	}
	return time.Now().Add(d).After(time.Unix(c.Exp, 0))
}
