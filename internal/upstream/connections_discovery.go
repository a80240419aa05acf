package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/jsonlimit"
	"github.com/mcpgate/mcpgate/internal/loopback"
	"github.com/mcpgate/mcpgate/internal/ssrf"
	"github.com/mcpgate/mcpgate/internal/store"
)

// Discovered connections (OAuthApp.MCPServer): endpoints, resource and scopes come from
// the MCP server's protected resource metadata and its authorization server's metadata,
// and mcpgate registers itself there when no client id is configured: with its client
// ID metadata document when the server supports it, else by dynamic client registration
// (RFC 7591), kept in the store so every replica uses the same client.

const (
	// discoveryTTL: how long discovered metadata is used before it is read again.
	discoveryTTL = time.Hour
	// DefaultDiscoveryTimeout bounds each discovery or registration request.
	DefaultDiscoveryTimeout = 10 * time.Second
	// registrationSubject is the store subject under which dynamic client registrations
	// are kept (provider = the connection's name); no user's subject starts with "@".
	registrationSubject = "@mcpgate/client-registration"
)

// resolvedApp is a discovered connection's endpoints, valid until until.
type resolvedApp struct {
	app   *connApp
	until time.Time
}

// guard is the SSRF guard of a discovered app: its metadata hosts (default the MCP
// server's host).
func (a *connApp) guard() ssrf.Options {
	hosts := a.MetadataHosts
	if len(hosts) == 0 {
		if u, err := url.Parse(a.MCPServer); err == nil {
			hosts = []string{u.Hostname()}
		}
	}
	return ssrf.Options{Timeout: a.discoveryTimeout(), Hosts: hosts}
}

func (a *connApp) discoveryTimeout() time.Duration {
	if a.DiscoveryTimeout > 0 {
		return a.DiscoveryTimeout
	}
	return DefaultDiscoveryTimeout
}

// ClientMetadataURL is the client ID metadata document mcpgate publishes for app: its
// client_id at authorization servers that support client ID metadata documents.
func (cs *Connections) ClientMetadataURL(app string) string {
	return cs.c.BaseURL + "/" + url.PathEscape(app) + "/client-metadata.json"
}

// resolve returns a with its endpoints: a itself for a configured app, the discovered
// endpoints (cached for discoveryTTL; concurrent callers share one discovery) for a
// discovered one.
func (cs *Connections) resolve(ctx context.Context, a *connApp) (*connApp, error) {
	if a.MCPServer == "" {
		return a, nil
	}
	if r := a.resolved.Load(); r != nil && cs.c.Now().Before(r.until) {
		return r.app, nil
	}
	ch := cs.sf.DoChan("\x00discover\x00"+a.Name, func() (any, error) {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 3*a.discoveryTimeout())
		defer cancel()
		ra, err := cs.discover(dctx, a)
		if err != nil {
			cs.log.WarnContext(ctx, "connection discovery failed", "provider", a.Name, "mcp_server", a.MCPServer, "err", err)
			return nil, &Failure{Mode: ModeConnection, Reason: ReasonIdPUnreachable, Description: "discovering " + a.display() + "'s authorization server: " + err.Error(), Err: err}
		}
		a.resolved.Store(&resolvedApp{app: ra, until: cs.c.Now().Add(discoveryTTL)})
		return ra, nil
	})
	select {
	case <-ctx.Done():
		return nil, &Failure{Mode: ModeConnection, Reason: ReasonIdPUnreachable, Description: "request cancelled during discovery", Err: ctx.Err()}
	case r := <-ch:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Val.(*connApp), nil
	}
}

func (cs *Connections) discover(ctx context.Context, a *connApp) (*connApp, error) {
	g := a.guard()
	client := ssrf.Client(g)
	f := &metadataFetcher{client: client, guard: g}
	d, err := f.discover(ctx, a.MCPServer)
	if err != nil {
		return nil, err
	}
	for _, e := range []string{d.AS.AuthorizationEndpoint, d.AS.TokenEndpoint, d.AS.RegistrationEndpoint, d.AS.RevocationEndpoint} {
		if e == "" {
			continue
		}
		u, _ := url.Parse(e)
		if err := ssrf.CheckURL(g, u); err != nil {
			return nil, fmt.Errorf("endpoint %s: %w (list its host in metadataHosts)", e, err)
		}
	}
	out := a.OAuthApp
	out.AuthorizeURL, out.TokenURL, out.RevocationURL = d.AS.AuthorizationEndpoint, d.AS.TokenEndpoint, d.AS.RevocationEndpoint
	out.Issuer = d.AS.Issuer
	out.Resource = d.Resource
	if len(out.Scopes) == 0 {
		out.Scopes = slices.Clone(d.PRM.ScopesSupported)
	}
	// Ask for a refresh token only where the server lists offline_access (SEP-2207).
	if slices.Contains(d.AS.ScopesSupported, "offline_access") && len(out.Scopes) > 0 && !slices.Contains(out.Scopes, "offline_access") {
		out.Scopes = append(out.Scopes, "offline_access")
	}
	if out.ClientID == "" {
		switch {
		case d.AS.ClientIDMetadataDocumentSupported:
			out.ClientID, out.ClientSecret = cs.ClientMetadataURL(a.Name), ""
		case d.AS.RegistrationEndpoint != "":
			reg, err := cs.registration(ctx, a, client, d.AS)
			if err != nil {
				return nil, err
			}
			out.ClientID, out.ClientSecret, out.AuthMethod = reg.ClientID, reg.ClientSecret, reg.AuthMethod
		default:
			return nil, fmt.Errorf("%s supports neither client ID metadata documents nor dynamic client registration: register mcpgate there (redirect URI %s) and set clientId", d.AS.Issuer, cs.callbackURL(a.Name))
		}
	}
	cs.log.InfoContext(ctx, "connection discovered", "provider", a.Name, "issuer", d.AS.Issuer, "resource", d.Resource,
		"client", clientKind(a.OAuthApp, d.AS), "scopes", strings.Join(out.Scopes, " "))
	return &connApp{OAuthApp: out, tc: newTokenClient(ModeConnection, out.TokenURL, out.clientAuth(), client, cs.log, cs.c.Now)}, nil
}

func clientKind(a OAuthApp, md authServerMetadata) string {
	switch {
	case a.ClientID != "":
		return "pre-registered"
	case md.ClientIDMetadataDocumentSupported:
		return "client ID metadata document"
	}
	return "dynamic registration"
}

// registration is a dynamically registered client, kept sealed in the store.
type registration struct {
	Issuer       string `json:"iss"`
	ClientID     string `json:"id"`
	ClientSecret string `json:"secret,omitempty"`
	AuthMethod   string `json:"method,omitempty"`
}

func registrationAAD(app string) []byte { return []byte("mcpgate-client-registration\x00" + app) }

// registration returns mcpgate's client at md's issuer for a: the stored one, or a new
// one registered (RFC 7591) and stored. Replicas racing to register keep the first
// stored; the others' registrations are left unused.
func (cs *Connections) registration(ctx context.Context, a *connApp, client *http.Client, md authServerMetadata) (registration, error) {
	var old int64
	rec, err := cs.c.Store.GetConnection(ctx, registrationSubject, a.Name)
	switch {
	case err == nil:
		if b, err := cs.c.Keys.Open(rec.Sealed, registrationAAD(a.Name)); err == nil {
			var r registration
			if json.Unmarshal(b, &r) == nil && r.Issuer == md.Issuer && r.ClientID != "" {
				return r, nil
			}
		}
		old = rec.Version // another issuer, or unreadable: register again
	case !errors.Is(err, store.ErrNotFound):
		return registration{}, fmt.Errorf("reading the client registration: %w", err)
	}
	r, err := cs.register(ctx, a, client, md)
	if err != nil {
		return registration{}, err
	}
	b, _ := json.Marshal(r)
	sealed, err := cs.c.Keys.Seal(b, registrationAAD(a.Name))
	if err != nil {
		return registration{}, err
	}
	now := cs.c.Now()
	err = cs.c.Store.CompareAndSwapConnection(ctx, old, store.Connection{Subject: registrationSubject, Provider: a.Name, Status: StatusActive,
		Sealed: sealed, Version: old + 1, CreatedAt: now, UpdatedAt: now})
	if errors.Is(err, store.ErrConflict) {
		return cs.registration(ctx, a, client, md) // another replica stored one first: use it
	}
	if err != nil {
		return registration{}, fmt.Errorf("storing the client registration: %w", err)
	}
	cs.log.InfoContext(ctx, "registered at the authorization server", "provider", a.Name, "issuer", md.Issuer)
	return r, nil
}

// register posts a client registration request (RFC 7591): a public client using PKCE,
// unless the server only offers secret-based methods.
func (cs *Connections) register(ctx context.Context, a *connApp, client *http.Client, md authServerMetadata) (registration, error) {
	method := "none"
	if ms := md.TokenEndpointAuthMethodsSupported; len(ms) > 0 && !slices.Contains(ms, "none") {
		method = "client_secret_basic"
		if !slices.Contains(ms, method) {
			method = "client_secret_post"
		}
	}
	body, _ := json.Marshal(map[string]any{
		"client_name": cs.clientName(), "redirect_uris": []string{cs.callbackURL(a.Name)},
		"grant_types": []string{"authorization_code", "refresh_token"}, "response_types": []string{"code"},
		"token_endpoint_auth_method": method, "application_type": "web",
	})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, md.RegistrationEndpoint, bytes.NewReader(body))
	if err != nil {
		return registration{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return registration{}, fmt.Errorf("registering at %s: %w", md.RegistrationEndpoint, err)
	}
	defer resp.Body.Close()
	raw, err := jsonlimit.Read(resp.Body, maxMetadataBytes, metadataJSONLimits)
	if err != nil {
		return registration{}, fmt.Errorf("registering at %s: reading the answer: %w", md.RegistrationEndpoint, err)
	}
	var out struct {
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
		AuthMethod   string `json:"token_endpoint_auth_method"`
		Error        string `json:"error"`
		Description  string `json:"error_description"`
	}
	_ = json.Unmarshal(raw, &out)
	if resp.StatusCode/100 != 2 || out.ClientID == "" {
		return registration{}, fmt.Errorf("registering at %s: HTTP %d %s %s", md.RegistrationEndpoint, resp.StatusCode, clipped(out.Error), clipped(out.Description))
	}
	r := registration{Issuer: md.Issuer, ClientID: out.ClientID, ClientSecret: out.ClientSecret, AuthMethod: out.AuthMethod}
	if r.AuthMethod == "" || r.AuthMethod == "none" {
		r.AuthMethod = method
	}
	return r, nil
}

func (cs *Connections) clientName() string {
	if cs.c.Branding.Name != "" {
		return cs.c.Branding.Name + " (mcpgate)"
	}
	return "mcpgate"
}

// clientMetadata is mcpgate's client ID metadata document for a discovered connection:
// a public client whose only redirect is the connection's callback.
func (cs *Connections) clientMetadata(app string) map[string]any {
	return map[string]any{
		"client_id": cs.ClientMetadataURL(app), "client_name": cs.clientName(), "client_uri": cs.c.BaseURL + "/",
		"redirect_uris": []string{cs.callbackURL(app)}, "grant_types": []string{"authorization_code", "refresh_token"},
		"response_types": []string{"code"}, "token_endpoint_auth_method": "none", "application_type": "web",
	}
}

func (cs *Connections) handleClientMetadata(w http.ResponseWriter, r *http.Request) {
	a, ok := cs.apps[r.PathValue("provider")]
	if !ok || a.MCPServer == "" || a.ClientID != "" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	_ = json.NewEncoder(w).Encode(cs.clientMetadata(a.Name))
}

// internalHost reports whether host is localhost or a loopback or private IP address:
// discovery goes there only when metadataHosts lists it.
func internalHost(host string) bool {
	if loopback.Host(host) {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ssrf.Internal(ip)
}
