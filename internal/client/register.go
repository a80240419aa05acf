package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"

	"github.com/mcpgate/mcpgate/internal/jsonlimit"
)

// register decides how this client is known to the AS, in the 2025-11-25 priority order:
// pre-registered client, Client ID Metadata Document, dynamic registration (RFC 7591).
// reuse is an earlier dynamic registration with the same redirect URI.
func (c *Client) register(ctx context.Context, m *ServerMetadata, redirectURI string, reuse *Registration) (Registration, error) {
	supported := m.TokenEndpointAuthMethodsSupported
	switch {
	case c.opts.ClientID != "":
		r := Registration{ClientID: c.opts.ClientID, ClientSecret: c.opts.ClientSecret, RedirectURI: redirectURI, Kind: "preregistered"}
		r.AuthMethod = pickAuthMethod(supported, c.opts.ClientSecret != "")
		return r, nil
	case c.opts.ClientMetadataURL != "" && m.ClientIDMetadataDocumentSupported:
		return Registration{ClientID: c.opts.ClientMetadataURL, AuthMethod: "none", RedirectURI: redirectURI, Kind: "metadata-document"}, nil
	case reuse != nil:
		c.log().Debug("reusing dynamic client registration", "client_id", reuse.ClientID)
		return *reuse, nil
	case m.RegistrationEndpoint != "":
		return c.dynamicRegister(ctx, m, redirectURI)
	}
	hint := "pass --client-id (and --client-secret for a confidential client) of an app registered with " + m.Issuer
	if c.opts.ClientMetadataURL == "" && m.ClientIDMetadataDocumentSupported {
		hint = "the server supports Client ID Metadata Documents: pass --client-metadata-url https://…/your-client.json, or " + hint
	}
	return Registration{}, fmt.Errorf("%w %s: it offers neither dynamic client registration nor a client ID metadata document you configured; %s",
		errNoRegistration, m.Issuer, hint)
}

// pickAuthMethod chooses the token endpoint auth method from what the AS supports. RFC 8414
// says an absent list means client_secret_basic.
func pickAuthMethod(supported []string, haveSecret bool) string {
	if !haveSecret {
		return "none"
	}
	if len(supported) == 0 || slices.Contains(supported, "client_secret_basic") {
		return "client_secret_basic"
	}
	if slices.Contains(supported, "client_secret_post") {
		return "client_secret_post"
	}
	return "client_secret_basic"
}

type dcrRequest struct {
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris,omitempty"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	ApplicationType         string   `json:"application_type,omitempty"`
}

type dcrResponse struct {
	ClientID                string `json:"client_id"`
	ClientSecret            string `json:"client_secret"`
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method"`
	Error                   string `json:"error"`
	ErrorDescription        string `json:"error_description"`
}

func (c *Client) dynamicRegister(ctx context.Context, m *ServerMetadata, redirectURI string) (Registration, error) {
	method := "none"
	if s := m.TokenEndpointAuthMethodsSupported; len(s) > 0 && !slices.Contains(s, "none") {
		method = pickAuthMethod(s, true)
	}
	req := dcrRequest{
		ClientName:              c.opts.ClientName,
		GrantTypes:              []string{"authorization_code", "refresh_token"},
		ResponseTypes:           []string{"code"},
		TokenEndpointAuthMethod: method,
		ApplicationType:         "native",
	}
	if redirectURI != "" {
		req.RedirectURIs = []string{redirectURI}
	} else {
		req.GrantTypes = []string{"urn:ietf:params:oauth:grant-type:device_code", "refresh_token"}
		req.ResponseTypes = []string{}
	}
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, m.RegistrationEndpoint, bytes.NewReader(body))
	if err != nil {
		return Registration{}, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	resp, err := c.http().Do(hr)
	if err != nil {
		return Registration{}, fmt.Errorf("dynamic client registration at %s: %w", m.RegistrationEndpoint, err)
	}
	defer resp.Body.Close()
	b, err := jsonlimit.Read(resp.Body, maxResponseBytes, jsonlimit.Limits{})
	if err != nil {
		return Registration{}, fmt.Errorf("dynamic client registration at %s: reading the response: %w", m.RegistrationEndpoint, err)
	}
	var r dcrResponse
	_ = json.Unmarshal(b, &r)
	if resp.StatusCode/100 != 2 || r.ClientID == "" {
		if r.Error != "" {
			return Registration{}, fmt.Errorf("dynamic client registration at %s failed: %s: %s", m.RegistrationEndpoint, r.Error, r.ErrorDescription)
		}
		return Registration{}, fmt.Errorf("dynamic client registration at %s failed: HTTP %d", m.RegistrationEndpoint, resp.StatusCode)
	}
	out := Registration{ClientID: r.ClientID, ClientSecret: r.ClientSecret, RedirectURI: redirectURI, Kind: "dynamic", AuthMethod: method}
	if r.TokenEndpointAuthMethod != "" {
		out.AuthMethod = r.TokenEndpointAuthMethod
	} else if r.ClientSecret != "" && method == "none" {
		out.AuthMethod = pickAuthMethod(m.TokenEndpointAuthMethodsSupported, true)
	}
	c.log().Info("registered client dynamically", "issuer", m.Issuer, "client_id", out.ClientID, "auth_method", out.AuthMethod)
	return out, nil
}
