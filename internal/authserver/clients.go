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

var errUnknownClient = errors.New("unknown client")

func (r *clientRegistry) get(ctx context.Context, id string) (store.Client, error) {
	if c, ok := r.static[id]; ok {
		return c, nil
	}
	if isCIMDClientID(id) {
		if r.cimd == nil {
			return store.Client{}, fmt.Errorf("client %s: client ID metadata documents are disabled", id)
		}
		c, err := r.cimd.get(ctx, id)
		if err != nil {
			r.s.log.WarnContext(ctx, "client metadata document rejected", "client_id", id, "err", err)
			return store.Client{}, err
		}
		c.Trusted = slices.Contains(r.s.opts.TrustedClients, id)
		return c, nil
	}
	c, err := r.s.store.GetClient(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return c, fmt.Errorf("client %s: %w", id, errUnknownClient)
	}
	if err != nil {
		return c, err
	}
	if slices.Contains(r.s.opts.TrustedClients, id) {
		c.Trusted = true
	}
	return c, nil
}

// authenticate checks a confidential client's secret.
func (r *clientRegistry) authenticate(ctx context.Context, id, secret string) (store.Client, error) {
	c, err := r.get(ctx, id)
	if err != nil {
		noteError(ctx, "unknown client_id")
		return c, oidc.ErrInvalidClient().WithDescription("unknown client_id")
	}
	if c.Public() {
		noteError(ctx, "this is a public client; it has no secret and cannot use this grant")
		return c, oidc.ErrInvalidClient().WithDescription("this is a public client; it has no secret and cannot use this grant")
	}
	if subtle.ConstantTimeCompare([]byte(hashToken(secret)), []byte(c.SecretHash)) != 1 {
		r.s.log.WarnContext(ctx, "client authentication failed", "client_id", id)
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
		return fmt.Errorf("redirect URI %q is not an absolute URL", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("redirect URI %q must not have a fragment", raw)
	}
	loopback := isLoopbackHost(u.Hostname())
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && loopback:
	default:
		return fmt.Errorf("redirect URI %q must use https, or http on a loopback address (127.0.0.1, [::1] or localhost)", raw)
	}
	if allowedHosts != nil && !loopback && !slices.Contains(allowedHosts, strings.ToLower(u.Hostname())) {
		return fmt.Errorf("redirect URI host %q is not allowed for registration on this server (allowed: %s, and loopback)", u.Hostname(), strings.Join(allowedHosts, ", "))
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
