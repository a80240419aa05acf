package authn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
)

// Options tune a Registry. The zero value is usable.
type Options struct {
	// Logger receives key-loading events and (at debug level) rejections. Nil discards.
	Logger *slog.Logger
	// HTTPClient fetches JWKS and discovery documents. Default: a client with a 10s timeout.
	HTTPClient *http.Client
	// CacheSize bounds the verified-token cache of each verifier (entries). Default 10000;
	// negative disables the cache.
	CacheSize int
	// FetchTimeout bounds one JWKS or discovery load. Default 10s.
	FetchTimeout time.Duration
	// Now is the clock (tests). Default time.Now.
	Now func() time.Time
}

// DefaultCacheSize is the verified-token cache size of a verifier when Options.CacheSize is 0.
const DefaultCacheSize = 10000

// Registry holds the runtime issuers built from the configuration and the key sets behind
// them. Key sets are shared: issuers (and so verifiers) with the same key source use one
// KeySet, loaded and refreshed once. Verifiers with the same issuers and audiences are
// shared too. Close stops every background refresh.
type Registry struct {
	log  *slog.Logger
	opts Options
	ctx  context.Context

	mu        sync.Mutex
	issuers   map[string]*issuer
	keysets   map[string]*KeySet
	verifiers map[string]*JWTVerifier
	closed    bool
}

// NewRegistry builds the issuers of the configuration. Inline and file key sets are loaded
// now (a broken one is an error); remote ones (jwksURL, OIDC discovery, Entra) start loading
// in the background, so that an unreachable IdP does not stop the gateway from starting —
// use WaitReady to wait for them. ctx bounds the registry's life as Close does.
func NewRegistry(ctx context.Context, issuers []Issuer, opts Options) (*Registry, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.CacheSize == 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 10 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Registry{
		log: opts.Logger, opts: opts, ctx: ctx,
		issuers: map[string]*issuer{}, keysets: map[string]*KeySet{}, verifiers: map[string]*JWTVerifier{},
	}
	var errs []error
	for _, is := range issuers {
		if err := r.addWith(is, nil, nil); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// AddStatic adds an in-process issuer whose keys are held in keys (for example mcpgate's
// own authorization server, which writes its public signing keys there and rotates them in
// place). is gives the name, the exact iss, audiences, algorithms, clock skew and claim
// mapping; its JWKS fields and Entra preset are ignored. Call it before Verifier for the
// issuer. After removing a key from keys, call KeysChanged so that cached tokens signed with
// it stop being accepted.
func (r *Registry) AddStatic(is Issuer, keys jwkset.Storage) error {
	if keys == nil {
		return fmt.Errorf("issuer %s: no key storage given", is.Name)
	}
	is.JWKSURL, is.JWKSFile, is.JWKS, is.Entra = "", "", "", nil
	return r.addWith(is, keys, nil)
}

// AddKeyFunc adds an in-process issuer whose JWKS (JSON) comes from load — for example
// authserver.Server.JWKS — with no HTTP involved. load is called now (an error is returned),
// then every refreshInterval and on an unknown kid (at most once per
// unknownKidRefreshInterval), exactly like a JWKS URL; removed keys stop their cached tokens.
// is gives the name, the exact iss, audiences, algorithms, clock skew and claim mapping; its
// JWKS fields and Entra preset are ignored. Call it before Verifier for the issuer.
func (r *Registry) AddKeyFunc(is Issuer, load func(ctx context.Context) ([]byte, error)) error {
	if load == nil {
		return fmt.Errorf("issuer %s: no key function given", is.Name)
	}
	is.JWKSURL, is.JWKSFile, is.JWKS, is.Entra = "", "", "", nil
	return r.addWith(is, nil, load)
}

// KeysChanged tells the registry that the keys of a static issuer changed in a way that
// must invalidate cached tokens (a key was removed).
func (r *Registry) KeysChanged(issuerName string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if is := r.issuers[issuerName]; is != nil {
		for _, f := range is.forms {
			if f.keys != nil {
				f.keys.gen.Add(1)
			}
		}
	}
}

// WaitReady waits until every key set has been loaded once (or failed to), and returns the
// errors of those that have no keys.
func (r *Registry) WaitReady(ctx context.Context) error {
	r.mu.Lock()
	sets := make([]*KeySet, 0, len(r.keysets))
	for _, k := range r.keysets {
		sets = append(sets, k)
	}
	r.mu.Unlock()
	var errs []error
	for _, k := range sets {
		if err := k.WaitLoaded(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close stops the background refreshes and waits for them. It is safe to call twice.
// Verifiers keep working with the keys they have.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	sets := make([]*KeySet, 0, len(r.keysets))
	for _, k := range r.keysets {
		sets = append(sets, k)
	}
	r.mu.Unlock()
	for _, k := range sets {
		k.close()
	}
	return nil
}

// Verifier returns the verifier that accepts tokens of the named issuers whose aud is one
// of audiences or one of the issuer's own audiences. Calls with the same issuers and
// audiences return the same verifier (and so share its token cache).
func (r *Registry) Verifier(issuerNames []string, audiences []string) (*JWTVerifier, error) {
	if len(issuerNames) == 0 {
		return nil, errors.New("verifier: no issuer named")
	}
	names := slices.Clone(issuerNames)
	slices.Sort(names)
	names = slices.Compact(names)
	auds := slices.Clone(audiences)
	slices.Sort(auds)
	auds = slices.Compact(auds)
	key := strings.Join(names, "\x00") + "\x01" + strings.Join(auds, "\x00")

	r.mu.Lock()
	defer r.mu.Unlock()
	if v := r.verifiers[key]; v != nil {
		return v, nil
	}
	var iss []*issuer
	for _, n := range names {
		is := r.issuers[n]
		if is == nil {
			known := make([]string, 0, len(r.issuers))
			for k := range r.issuers {
				known = append(known, k)
			}
			slices.Sort(known)
			return nil, fmt.Errorf("verifier: issuer %q is not defined (defined: %s)", n, strings.Join(known, ", "))
		}
		if len(auds) == 0 && len(is.audiences) == 0 {
			return nil, fmt.Errorf("verifier: no audience accepted for issuer %q: give the route's audiences or the issuer's audiences", n)
		}
		iss = append(iss, is)
	}
	v := newJWTVerifier(iss, auds, r.opts, r.log)
	r.verifiers[key] = v
	return v, nil
}

// addWith builds the runtime issuer for is; static is the key storage of AddStatic, fn the
// loader of AddKeyFunc.
func (r *Registry) addWith(is Issuer, static jwkset.Storage, fn func(context.Context) ([]byte, error)) error {
	if is.Name == "" {
		return errors.New("issuer without a name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("registry is closed")
	}
	if r.issuers[is.Name] != nil {
		return fmt.Errorf("issuer %s: defined twice", is.Name)
	}
	rt, err := r.build(is, static, fn)
	if err != nil {
		return fmt.Errorf("issuer %s: %w", is.Name, err)
	}
	r.issuers[is.Name] = rt
	return nil
}

func (r *Registry) build(is Issuer, static jwkset.Storage, fn func(context.Context) ([]byte, error)) (*issuer, error) {
	rt := &issuer{
		name:      is.Name,
		audiences: slices.Clone(is.Audiences),
		algs:      is.Algorithms,
		skew:      is.ClockSkew,
		claims:    newClaimNames(is.Claims),
		required:  is.RequiredClaims,
	}
	if len(rt.algs) == 0 {
		rt.algs = defaultAlgorithms
	}
	hc := r.opts.HTTPClient
	if is.CAFile != "" {
		var err error
		if hc, err = WithCAFile(hc, is.CAFile); err != nil {
			return nil, err
		}
	}
	for _, a := range rt.algs {
		if strings.EqualFold(a, "none") || strings.HasPrefix(strings.ToUpper(a), "HS") {
			return nil, fmt.Errorf("algorithm %s is never allowed: use RS256, PS256 or ES256", a)
		}
		if !slices.Contains(defaultAlgorithms, a) {
			return nil, fmt.Errorf("algorithm %s is not supported (supported: %s)", a, strings.Join(defaultAlgorithms, ", "))
		}
	}
	if rt.skew == 0 {
		rt.skew = 60 * time.Second
	}
	refresh := is.RefreshInterval
	if refresh <= 0 {
		refresh = time.Hour
	}
	unknown := is.UnknownKIDRefreshInterval
	if unknown <= 0 {
		unknown = 5 * time.Minute
	}
	mk := func(source string, load func(context.Context) ([]byte, error), store jwkset.Storage, inline string) (*KeySet, error) {
		if k := r.keysets[source]; k != nil {
			return k, nil
		}
		k, err := newKeySet(r.ctx, keySetOptions{
			source: source, load: load, store: store, refreshInterval: refresh, unknownKIDEvery: unknown,
			fetchTimeout: r.opts.FetchTimeout, now: r.opts.Now, log: r.log,
		})
		if err != nil {
			return nil, err
		}
		switch {
		case inline != "":
			jwks, issuers, err := parseJWKS([]byte(inline), r.log, source)
			if err != nil {
				k.close()
				return nil, err
			}
			k.install(jwks, issuers)
		case strings.HasPrefix(source, "file:"), strings.HasPrefix(source, "func:"):
			// Load now so that a broken file is a start-up error; later loads pick up changes.
			if err := k.loadOnce(r.ctx); err != nil {
				k.close()
				return nil, err
			}
			k.start(true)
		default:
			k.start(false)
		}
		r.keysets[source] = k
		return k, nil
	}
	// explicitKeys returns the key set named by jwksURL/jwksFile/jwks (or the static storage).
	explicitKeys := func() (*KeySet, bool, error) {
		switch {
		case static != nil:
			k, err := mk("static:"+is.Name, nil, static, "")
			return k, true, err
		case fn != nil:
			k, err := mk("func:"+is.Name, fn, nil, "")
			return k, true, err
		case is.JWKSURL != "":
			k, err := mk("url:"+is.JWKSURL, urlLoader(hc, is.JWKSURL), nil, "")
			return k, true, err
		case is.JWKSFile != "":
			k, err := mk("file:"+is.JWKSFile, fileLoader(is.JWKSFile), nil, "")
			return k, true, err
		case is.JWKS != "":
			k, err := mk("inline:"+is.Name, nil, nil, is.JWKS)
			return k, true, err
		}
		return nil, false, nil
	}
	if is.Entra != nil {
		return rt, r.buildEntra(rt, is, hc, explicitKeys, mk)
	}
	if is.Issuer == "" {
		return nil, errors.New("issuer (the exact iss value) is required")
	}
	ks, ok, err := explicitKeys()
	if err != nil {
		return nil, err
	}
	if !ok {
		ks, err = mk("discovery:"+is.Issuer, discoveryLoader(hc, is.Issuer), nil, "")
		if err != nil {
			return nil, err
		}
	}
	rt.forms = []*issuerForm{{iss: is.Issuer, keys: ks}}
	return rt, nil
}

// KeySets returns the key sets behind an issuer (one per token form; Entra issuers have one
// per accepted version), for diagnostics (mcpgate doctor, docs/doctor.md). Nil for an unknown name.
func (r *Registry) KeySets(issuerName string) []*KeySet {
	r.mu.Lock()
	defer r.mu.Unlock()
	is := r.issuers[issuerName]
	if is == nil {
		return nil
	}
	var out []*KeySet
	for _, f := range is.forms {
		if f.keys != nil && !slices.Contains(out, f.keys) {
			out = append(out, f.keys)
		}
	}
	return out
}
