package client

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ConformanceCIMDURL is the client_id the conformance suite expects in the basic-cimd scenario.
const ConformanceCIMDURL = "https://conformance-test.local/client-metadata.json"

// RunConformance is the conformance-suite client contract (MCP_CONFORMANCE_SCENARIO and
// MCP_CONFORMANCE_CONTEXT): no human is involved, so the authorization URL is followed by an
// HTTP client that lands on our own loopback redirect listener.
func RunConformance(ctx context.Context, scenario, contextJSON, serverURL string, logw io.Writer) error {
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var cc map[string]any
	if contextJSON != "" {
		if err := json.Unmarshal([]byte(contextJSON), &cc); err != nil {
			return fmt.Errorf("MCP_CONFORMANCE_CONTEXT is not JSON: %w", err)
		}
	}
	str := func(k string) string { s, _ := cc[k].(string); return s }
	log.Info("conformance scenario", "scenario", scenario, "server", serverURL)
	dir, err := os.MkdirTemp("", "mcpgate-conformance-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	if !strings.HasPrefix(scenario, "auth/") {
		return runBridgeConformance(ctx, serverURL, log)
	}
	var hc *http.Client
	switch scenario {
	case "auth/client-credentials-basic", "auth/client-credentials-jwt", "auth/cross-app-access-complete-flow":
		ts := &clientCredentials{serverURL: serverURL, clientID: str("client_id"), secret: str("client_secret"),
			keyPEM: str("private_key_pem"), alg: str("signing_algorithm"), log: log,
			idpToken: str("idp_id_token"), idpTokenEndpoint: str("idp_token_endpoint"), idpClientID: str("idp_client_id")}
		hc = &http.Client{Transport: ts}
	default:
		opts := Options{
			ServerURL:         serverURL,
			ClientID:          str("client_id"),
			ClientSecret:      str("client_secret"),
			ClientMetadataURL: ConformanceCIMDURL,
			ClientName:        "mcpgate-conformance",
			CacheDir:          dir,
			Logger:            log,
			Prompt:            logw,
			OpenURL:           FollowRedirects,
		}
		c, err := New(opts)
		if err != nil {
			return err
		}
		hc = c.HTTPClient()
	}
	mc := mcp.NewClient(&mcp.Implementation{Name: "mcpgate-conformance", Version: "1"}, nil)
	s, err := mc.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: serverURL, HTTPClient: hc, MaxRetries: -1}, nil)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := s.ListTools(ctx, nil)
	if err != nil {
		return fmt.Errorf("tools/list: %w", err)
	}
	name := "test-tool"
	if len(res.Tools) > 0 {
		name = res.Tools[0].Name
	}
	if _, err := s.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: map[string]any{}}); err != nil {
		return fmt.Errorf("tools/call %s: %w", name, err)
	}
	return nil
}

// FollowRedirects is an Options.OpenURL for unattended sign-in (tests, conformance): it GETs
// the authorization URL and follows the redirects, which end at the loopback listener. It only
// follows http(s) redirects to loopback hosts.
func FollowRedirects(ctx context.Context, authURL string) error {
	hc := &http.Client{
		Timeout: 30 * time.Second,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > 10 {
				return errors.New("too many redirects")
			}
			if !isLoopback(req.URL.Hostname()) {
				return fmt.Errorf("refusing to follow a redirect to non-loopback host %s", req.URL.Host)
			}
			return nil
		},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	if err != nil {
		return err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("following the authorization URL: %w", err)
	}
	drain(resp)
	return nil
}

// clientCredentials is a RoundTripper that obtains a token with the client credentials grant
// (client_secret_basic, or private_key_jwt per RFC 7523 when a key is given), for the
// conformance extension scenarios.
type clientCredentials struct {
	serverURL, clientID, secret, keyPEM, alg string
	// Enterprise-managed authorization (SEP-990): an IdP ID token is exchanged for an ID-JAG
	// (RFC 8693) that is then presented with the JWT bearer grant (RFC 7523).
	idpToken, idpTokenEndpoint, idpClientID string
	log                                     *slog.Logger
	tok                                     string
}

func (t *clientCredentials) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.tok == "" {
		if err := t.fetch(req.Context()); err != nil {
			return nil, err
		}
	}
	r := req.Clone(req.Context())
	r.Header.Set("Authorization", "Bearer "+t.tok)
	return http.DefaultTransport.RoundTrip(r)
}

func (t *clientCredentials) fetch(ctx context.Context) error {
	c, err := New(Options{ServerURL: t.serverURL, CacheDir: os.TempDir(), Logger: t.log})
	if err != nil {
		return err
	}
	ch, err := Probe(ctx, nil, t.serverURL)
	if err != nil {
		return err
	}
	prm, err := c.DiscoverResource(ctx, ch)
	if err != nil {
		return err
	}
	if prm == nil || len(prm.AuthorizationServers) == 0 {
		return errors.New("no protected resource metadata")
	}
	m, err := c.DiscoverServer(ctx, prm.AuthorizationServers[0])
	if err != nil {
		return err
	}
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {prm.Resource}}
	if len(prm.ScopesSupported) > 0 {
		form.Set("scope", strings.Join(prm.ScopesSupported, " "))
	}
	reg := Registration{ClientID: t.clientID, ClientSecret: t.secret, AuthMethod: "client_secret_basic"}
	if t.idpToken != "" {
		jag, err := c.tokenRequest(ctx, t.idpTokenEndpoint, Registration{ClientID: t.idpClientID, AuthMethod: "none"}, url.Values{
			"grant_type":           {"urn:ietf:params:oauth:grant-type:token-exchange"},
			"subject_token":        {t.idpToken},
			"subject_token_type":   {"urn:ietf:params:oauth:token-type:id_token"},
			"requested_token_type": {"urn:ietf:params:oauth:token-type:id-jag"},
			"audience":             {m.Issuer},
			"resource":             {prm.Resource},
		})
		if err != nil {
			return fmt.Errorf("exchanging the IdP token for an ID-JAG: %w", err)
		}
		form = url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:jwt-bearer"}, "assertion": {jag.AccessToken}}
	} else if t.keyPEM != "" {
		block, _ := pem.Decode([]byte(t.keyPEM))
		if block == nil {
			return errors.New("private_key_pem is not PEM")
		}
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return err
		}
		method := jwt.GetSigningMethod(t.alg)
		if method == nil {
			return fmt.Errorf("unsupported signing algorithm %q", t.alg)
		}
		now := time.Now()
		assertion, err := jwt.NewWithClaims(method, jwt.MapClaims{
			"iss": t.clientID, "sub": t.clientID, "aud": m.Issuer,
			"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": randomString(16),
		}).SignedString(key)
		if err != nil {
			return err
		}
		form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
		form.Set("client_assertion", assertion)
		reg = Registration{ClientID: t.clientID, AuthMethod: "private_key_jwt"}
	}
	tok, err := c.tokenRequest(ctx, m.TokenEndpoint, reg, form)
	if err != nil {
		return err
	}
	t.tok = tok.AccessToken
	return nil
}
