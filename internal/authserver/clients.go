package authserver

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/mcpgate/mcpgate/internal/clip"
	"github.com/mcpgate/mcpgate/internal/loopback"
	"github.com/mcpgate/mcpgate/internal/store"
)

// clientRegistry resolves client IDs: static clients (config, kept in memory), registered
// clients (store), and client ID metadata documents (https URLs, fetched and cached).
type clientRegistry struct {
	s      *Server
	static map[string]store.Client
	cimd   *cimdFetcher
}

func newClientRegistry(ctx context.Context, s *Server) (*clientRegistry, error) {
	r := &clientRegistry{s: s, static: map[string]store.Client{}}
	for _, sc := range s.opts.Clients {
		if sc.ID == "" {
			return nil, errors.New("a static client has no id")
		}
		for _, u := range sc.RedirectURIs {
			if err := validateRedirectURI(u, nil); err != nil {
				return nil, fmt.Errorf("static client %s: %w", sc.ID, err)
			}
		}
		c := store.Client{ID: sc.ID, Name: sc.Name, RedirectURIs: sc.RedirectURIs, GrantTypes: sc.GrantTypes, Scopes: sc.Scopes,
			Trusted: sc.Trusted || slices.Contains(s.opts.TrustedClients, sc.ID), Source: "static", CreatedAt: s.opts.Now()}
		if sc.Secret != "" {
			c.SecretHash = hashToken(sc.Secret)
		}
		if len(c.GrantTypes) == 0 {
			c.GrantTypes = []string{string(oidc.GrantTypeCode), string(oidc.GrantTypeRefreshToken)}
			if sc.Secret != "" {
				c.GrantTypes = append(c.GrantTypes, string(oidc.GrantTypeClientCredentials))
			}
		}
		if c.Name == "" {
			c.Name = c.ID
		}
		r.static[c.ID] = c
	}
	if !s.opts.CIMD.Disabled {
		r.cimd = newCIMDFetcher(s.opts.CIMD, s.opts.HTTPClient, s.log)
	}
	return r, nil
}

// errUnknownClient wraps every reason a client_id does not name a client: not registered,
// expired, or a metadata document that is disabled, unreachable or invalid. Other errors
// from get are the store's.
var errUnknownClient = errors.New("unknown client")

func (r *clientRegistry) get(ctx context.Context, id string) (store.Client, error) {
	if c, ok := r.static[id]; ok {
		return c, nil
	}
	if isCIMDClientID(id) {
		if r.cimd == nil {
			return store.Client{}, fmt.Errorf("%w: client ID metadata documents are disabled", errUnknownClient)
		}
		c, err := r.cimd.get(ctx, id)
		if err != nil {
			r.s.log.WarnContext(ctx, "client metadata document rejected", "client_id", clip.String(id), "err", err)
			return store.Client{}, fmt.Errorf("%w: client metadata document rejected: %w", errUnknownClient, err)
		}
		if stored, err := r.s.store.GetClient(ctx, id); err == nil && stored.Disabled {
			return store.Client{}, fmt.Errorf("%w: disabled by an administrator", errUnknownClient)
		}
		c.Trusted = slices.Contains(r.s.opts.TrustedClients, id)
		return c, nil
	}
	c, err := r.s.store.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return c, errUnknownClient
	}
	if err != nil {
		return c, err
	}
	if c.Disabled {
		return store.Client{}, fmt.Errorf("%w: disabled by an administrator", errUnknownClient)
	}
	if slices.Contains(r.s.opts.TrustedClients, id) {
		c.Trusted = true
	}
	return c, nil
}

// authenticate checks a confidential client's secret.
func (r *clientRegistry) authenticate(ctx context.Context, id, secret string) (store.Client, error) {
	c, err := r.get(ctx, id)
	if errors.Is(err, errUnknownClient) {
		r.s.log.InfoContext(ctx, "client authentication failed: unknown client", "client_id", clip.String(id))
		noteError(ctx, "unknown client_id")
		return c, oidc.ErrInvalidClient().WithDescription("unknown client_id")
	}
	if err != nil {
		return c, r.s.internalError(ctx, "looking up a client failed", err)
	}
	if c.AuthMethod == AuthMethodPrivateKeyJWT || assertedClient(ctx) != "" {
		// The assertion was verified by authenticateAssertion before the grant ran.
		if assertedClient(ctx) != id || c.AuthMethod != AuthMethodPrivateKeyJWT {
			noteError(ctx, "this client authenticates with private_key_jwt: send a client_assertion (RFC 7523)")
			return c, oidc.ErrInvalidClient().WithDescription("this client authenticates with private_key_jwt: send a client_assertion (RFC 7523)")
		}
		return c, nil
	}
	if c.Public() {
		noteError(ctx, "this is a public client; it has no secret and cannot use this grant")
		return c, oidc.ErrInvalidClient().WithDescription("this is a public client; it has no secret and cannot use this grant")
	}
	if subtle.ConstantTimeCompare([]byte(hashToken(secret)), []byte(c.SecretHash)) != 1 {
		r.s.log.WarnContext(ctx, "client authentication failed: wrong secret", "client_id", clip.String(id))
		noteError(ctx, "wrong client secret")
		return c, oidc.ErrInvalidClient().WithDescription("wrong client secret")
	}
	return c, nil
}

func isCIMDClientID(id string) bool {
	return strings.HasPrefix(id, "https://") || strings.HasPrefix(id, "http://")
}

// validateRedirectURI accepts https URLs and http URLs on loopback hosts (RFC 8252 §7.3),
// without fragments. allowedHosts, when not nil, further limits non-loopback hosts.
func validateRedirectURI(raw string, allowedHosts []string) error {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return fmt.Errorf("redirect URI %q is not an absolute URL", clip.String(raw))
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("redirect URI %q must not have a fragment (RFC 6749 §3.1.2)", clip.String(raw))
	}
	loopback := isLoopbackHost(u.Hostname())
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback:
	default:
		return fmt.Errorf("redirect URI %q must use https, or http on a loopback address (127.0.0.1, [::1] or localhost)", clip.String(raw))
	}
	if allowedHosts != nil && !loopback && !slices.Contains(allowedHosts, strings.ToLower(u.Hostname())) {
		return fmt.Errorf("redirect URI host %q is not allowed for registration on this server (allowed: %s, and loopback)", clip.String(u.Hostname()), strings.Join(allowedHosts, ", "))
	}
	return nil
}

func isLoopbackHost(h string) bool { return loopback.Host(h) }

// redirectHosts returns the distinct hosts of a client's redirect URIs (shown on consent).
func redirectHosts(uris []string) []string {
	var out []string
	for _, u := range uris {
		if p, err := url.Parse(u); err == nil && !slices.Contains(out, p.Host) {
			out = append(out, p.Host)
		}
	}
	return out
}

// registeredClientExpiry is when a dynamically registered client expires (zero = never).
func (s *Server) registeredClientExpiry(now time.Time) time.Time {
	if s.opts.DynamicClientLifetime == 0 {
		return time.Time{}
	}
	return now.Add(s.opts.DynamicClientLifetime)
}

// redirectURIAllowed reports whether an authorization request's redirect_uri is one of the
// client's redirect URIs: exactly, or, for a public (native) client, a registered loopback
// http URI on another port (OAuth 2.1 §8.4.2, RFC 8252 §7.3: native clients bind an
// ephemeral port at sign-in time). Everything but the port must be the same, byte for
// byte; a fragment or userinfo never matches.
//
// op checks the redirect_uri first, but for native clients it compares only the path and
// query: https://127.0.0.1/cb, http://localhost/cb, http://[::1]/cb, http://u@127.0.0.1/cb
// and http://127.0.0.1/cb#x all matched a registered http://127.0.0.1/cb. CreateAuthRequest
// applies this check, so that no code is issued to such a URI.
func redirectURIAllowed(c store.Client, uri string) bool {
	if strings.Contains(uri, "#") { // registration refuses fragments too
		return false
	}
	if slices.Contains(c.RedirectURIs, uri) {
		return true
	}
	if !c.Public() {
		return false
	}
	host, _, rest, ok := splitLoopbackHTTP(uri)
	if !ok {
		return false
	}
	for _, r := range c.RedirectURIs {
		if rh, _, rr, ok := splitLoopbackHTTP(r); ok && rh == host && rr == rest {
			return true
		}
	}
	return false
}

// splitLoopbackHTTP splits an http URI on a loopback host into its host (as written,
// brackets included), port (digits, or "" for none) and the rest (path, query), or reports
// false when it is anything else (another scheme, userinfo, a fragment, a bad port).
func splitLoopbackHTTP(raw string) (host, port, rest string, ok bool) {
	const scheme = "http://"
	if !strings.HasPrefix(raw, scheme) || strings.ContainsAny(raw, "#@\\") {
		return "", "", "", false
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Fragment != "" || !isLoopbackHost(u.Hostname()) {
		return "", "", "", false
	}
	authority := raw[len(scheme):]
	if i := strings.IndexAny(authority, "/?"); i >= 0 {
		authority, rest = authority[:i], authority[i:]
	}
	host = authority
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && !strings.HasSuffix(authority, "]") {
		host, port = authority[:i], authority[i+1:]
		if port == "" || len(port) > 5 || strings.Trim(port, "0123456789") != "" {
			return "", "", "", false
		}
	}
	if host == "" || host != u.Host && host+":"+port != u.Host {
		return "", "", "", false
	}
	return host, port, rest, true
}
