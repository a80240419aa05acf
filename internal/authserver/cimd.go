package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/mcpgate/mcpgate/internal/clip"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
	"github.com/mcpgate/mcpgate/internal/ssrf"
	"github.com/mcpgate/mcpgate/internal/store"
)

// ErrSSRFBlocked: a client metadata document URL resolved to an address we refuse to fetch.
var ErrSSRFBlocked = ssrf.ErrBlocked

// cimdFetcher fetches client ID metadata documents (draft-ietf-oauth-client-id-metadata-document)
// with SSRF guards: https only, public addresses only (checked on the connected address,
// so after DNS resolution and on every redirect), a size and time limit, and a cache.
type cimdFetcher struct {
	opts   CIMDOptions
	client *http.Client
	log    *slog.Logger

	mu    sync.Mutex
	cache map[string]cimdEntry
	// one fetch per URL at a time
	inflight map[string]*sync.Mutex
}

type cimdEntry struct {
	client  store.Client
	err     error
	expires time.Time
}

func newCIMDFetcher(opts CIMDOptions, client *http.Client, log *slog.Logger) *cimdFetcher {
	f := &cimdFetcher{opts: opts, log: log, cache: map[string]cimdEntry{}, inflight: map[string]*sync.Mutex{}}
	if client == nil {
		client = GuardedHTTPClient(opts.Timeout, opts.AllowPrivateAddresses)
	}
	f.client = client
	return f
}

// GuardedHTTPClient returns the SSRF-guarded client used for client metadata documents,
// for any outbound fetch of a URL an administrator or a client chose (federation
// discovery, JWKS, token endpoints): only public addresses (checked on the connected
// address, so after DNS resolution and on every redirect), no proxy, https redirects only.
// allowPrivate lifts the address and https checks (local development and tests only).
func GuardedHTTPClient(timeout time.Duration, allowPrivate bool) *http.Client {
	return ssrf.Client(ssrf.Options{Timeout: timeout, AllowPrivate: allowPrivate})
}

func (f *cimdFetcher) get(ctx context.Context, id string) (store.Client, error) {
	f.mu.Lock()
	if e, ok := f.cache[id]; ok && time.Now().Before(e.expires) {
		f.mu.Unlock()
		return e.client, e.err
	}
	lock := f.inflight[id]
	if lock == nil {
		lock = &sync.Mutex{}
		f.inflight[id] = lock
	}
	f.mu.Unlock()
	lock.Lock()
	defer lock.Unlock()
	f.mu.Lock()
	if e, ok := f.cache[id]; ok && time.Now().Before(e.expires) {
		f.mu.Unlock()
		return e.client, e.err
	}
	f.mu.Unlock()

	c, err := f.fetch(ctx, id)
	ttl := f.opts.CacheTTL
	if err != nil {
		ttl = 30 * time.Second // failures are cached briefly so a bad URL cannot be used to hammer a host
	}
	f.mu.Lock()
	if len(f.cache) > 10000 {
		clear(f.cache)
	}
	f.cache[id] = cimdEntry{client: c, err: err, expires: time.Now().Add(ttl)}
	delete(f.inflight, id)
	f.mu.Unlock()
	return c, err
}

type cimdDocument struct {
	ClientID                string   `json:"client_id"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	Scope                   string   `json:"scope"`
}

func (f *cimdFetcher) fetch(ctx context.Context, id string) (store.Client, error) {
	u, err := url.Parse(id)
	if err != nil {
		return store.Client{}, fmt.Errorf("client_id %q is not a URL", clip.String(id))
	}
	if u.Scheme != "https" && !(f.opts.AllowPrivateAddresses && u.Scheme == "http") {
		return store.Client{}, fmt.Errorf("client_id URL must be https")
	}
	if u.Path == "" || u.Path == "/" || u.Fragment != "" || u.User != nil {
		return store.Client{}, fmt.Errorf("client_id URL must have a path and no fragment or credentials")
	}
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, id, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return store.Client{}, fmt.Errorf("fetching client metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return store.Client{}, fmt.Errorf("fetching client metadata: HTTP %d", resp.StatusCode)
	}
	body, err := jsonlimit.Read(resp.Body, f.opts.MaxBytes, registrationJSONLimits)
	if errors.Is(err, jsonlimit.ErrTooLarge) {
		return store.Client{}, fmt.Errorf("client metadata document is larger than %d bytes", f.opts.MaxBytes)
	}
	if err != nil {
		return store.Client{}, fmt.Errorf("reading client metadata: %w", err)
	}
	var doc cimdDocument
	if err := json.Unmarshal(body, &doc); err != nil {
		return store.Client{}, fmt.Errorf("client metadata document is not JSON: %w", err)
	}
	if doc.ClientID != id {
		return store.Client{}, fmt.Errorf("client metadata document's client_id %q does not equal its URL", clip.String(doc.ClientID))
	}
	if len(doc.RedirectURIs) == 0 {
		return store.Client{}, errors.New("client metadata document has no redirect_uris")
	}
	for _, r := range doc.RedirectURIs {
		if err := validateRedirectURI(r, nil); err != nil {
			return store.Client{}, err
		}
	}
	if doc.TokenEndpointAuthMethod != "" && doc.TokenEndpointAuthMethod != "none" {
		return store.Client{}, fmt.Errorf("token_endpoint_auth_method %q is not supported for metadata-document clients; use none", clip.String(doc.TokenEndpointAuthMethod))
	}
	grants := doc.GrantTypes
	if len(grants) == 0 {
		grants = []string{string(oidc.GrantTypeCode), string(oidc.GrantTypeRefreshToken)}
	}
	name := doc.ClientName
	if name == "" {
		name = u.Host
	}
	f.log.InfoContext(ctx, "client metadata document fetched", "client_id", clip.String(id), "client_name", clip.String(name), "redirect_hosts", redirectHosts(doc.RedirectURIs))
	return store.Client{ID: id, Name: name, RedirectURIs: doc.RedirectURIs, GrantTypes: grants, Source: "cimd", CreatedAt: time.Now()}, nil
}
