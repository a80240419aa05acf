package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// maxJWKSBytes bounds a JWKS or discovery document; real ones are a few KB.
const maxJWKSBytes = 1 << 20

// KeySet is the signing keys of one source (a JWKS URL, a file, inline JSON, OIDC discovery
// or a static in-process storage), held in a jwkset.Storage and looked up through keyfunc.
//
// Remote and file sources are loaded in the background right away, refreshed every
// refreshInterval (failed loads are retried sooner, with backoff), and re-loaded when a
// token names an unknown kid — at most once per unknownKIDInterval, however many such tokens
// arrive; tokens arriving while a load is under way wait for it. A failed load never drops
// the cached keys. The raw JWKS is also read for the non-standard per-key "issuer" member
// that Entra publishes (see keyIssuer).
type KeySet struct {
	source string // "url:https://…", "file:/…", "discovery:https://…", "inline:name", "static:name"
	log    *slog.Logger
	store  jwkset.Storage
	kf     keyfunc.Keyfunc
	// load returns the raw JWKS JSON; nil for inline and static sets (never refreshed).
	load            func(ctx context.Context) ([]byte, error)
	refreshInterval time.Duration
	unknownKIDEvery time.Duration
	fetchTimeout    time.Duration
	now             func() time.Time

	issuers atomic.Pointer[map[string]string] // kid → the key's "issuer" member
	gen     atomic.Uint64                     // bumped when a key disappears (cached tokens signed by it die)
	loaded  atomic.Bool                       // some keys were loaded at least once
	fetches atomic.Int64                      // loads attempted (for tests and metrics)

	mu          sync.Mutex
	inflight    chan struct{} // closed when the load under way ends
	lastErr     error
	lastUnknown time.Time
	closed      bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type keySetOptions struct {
	source          string
	load            func(ctx context.Context) ([]byte, error)
	store           jwkset.Storage // static sets
	refreshInterval time.Duration
	unknownKIDEvery time.Duration
	fetchTimeout    time.Duration
	now             func() time.Time
	log             *slog.Logger
}

func newKeySet(ctx context.Context, o keySetOptions) (*KeySet, error) {
	store := o.store
	if store == nil {
		store = jwkset.NewMemoryStorage()
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: store, UseWhitelist: []jwkset.USE{jwkset.UseSig, ""}})
	if err != nil {
		return nil, fmt.Errorf("creating keyfunc for %s: %w", o.source, err)
	}
	k := &KeySet{
		source: o.source, log: o.log, store: store, kf: kf, load: o.load,
		refreshInterval: o.refreshInterval, unknownKIDEvery: o.unknownKIDEvery,
		fetchTimeout: o.fetchTimeout, now: o.now,
	}
	k.ctx, k.cancel = context.WithCancel(ctx)
	if o.store != nil {
		k.loaded.Store(true)
	}
	return k, nil
}

// start launches the refresh loop. initialDone is true when the first load already
// happened (file sources); otherwise the first load starts now, so that a Verify or
// WaitLoaded arriving before it ends can join it.
func (k *KeySet) start(initialDone bool) {
	if k.load == nil {
		return
	}
	var first chan struct{}
	if !initialDone {
		k.mu.Lock()
		first = k.startLoadLocked()
		k.mu.Unlock()
	}
	k.wg.Add(1)
	go k.loop(first)
}

// loop refreshes the keys every refreshInterval, sooner after a failure. first, when not
// nil, is the first load, started by start: the loop waits for that one (joining it rather
// than calling refresh, which would start a second load had the first already ended).
func (k *KeySet) loop(first chan struct{}) {
	defer k.wg.Done()
	var err error
	if first != nil {
		select {
		case <-first:
		case <-k.ctx.Done():
			return
		}
		k.mu.Lock()
		err = k.lastErr
		k.mu.Unlock()
	}
	backoff := time.Second
	t := time.NewTimer(time.Hour)
	defer t.Stop()
	for {
		next := k.refreshInterval
		if err != nil {
			if k.ctx.Err() != nil {
				return
			}
			next = min(backoff, k.refreshInterval)
			backoff = min(backoff*2, 5*time.Minute)
		} else {
			backoff = time.Second
		}
		t.Reset(next)
		select {
		case <-k.ctx.Done():
			return
		case <-t.C:
		}
		err = k.refresh(k.ctx)
	}
}

// close stops the refresh loop and waits for it and any load under way. Lookups keep
// working with the keys held; no new load starts.
func (k *KeySet) close() {
	k.mu.Lock()
	k.closed = true
	k.mu.Unlock()
	k.cancel()
	k.wg.Wait()
}

// Source describes where the keys come from (a URL, file path, or inline/static name).
func (k *KeySet) Source() string { return k.source }

// Storage returns the jwkset storage holding the keys.
func (k *KeySet) Storage() jwkset.Storage { return k.store }

// Fetches returns how many loads were attempted so far.
func (k *KeySet) Fetches() int64 { return k.fetches.Load() }

// WaitLoaded waits until the first load has finished (or ctx ends) and returns its error
// when no keys are available.
func (k *KeySet) WaitLoaded(ctx context.Context) error {
	if k.loaded.Load() {
		return nil
	}
	k.mu.Lock()
	ch := k.inflight
	k.mu.Unlock()
	if ch != nil {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if k.loaded.Load() {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.unavailable(k.lastErr)
}

func (k *KeySet) unavailable(lastErr error) error {
	if lastErr == nil {
		lastErr = errors.New("no keys loaded yet")
	}
	return fmt.Errorf("%w from %s: %v", ErrKeysUnavailable, k.source, lastErr)
}

// refresh loads the keys now, or joins the load already under way, and waits for it (or
// for ctx). The load itself runs on the key set's own context, so one caller giving up
// does not abort it for the others.
func (k *KeySet) refresh(ctx context.Context) error {
	k.mu.Lock()
	if k.closed {
		err := k.lastErr
		k.mu.Unlock()
		if err == nil {
			err = errors.New("key set closed")
		}
		return err
	}
	ch := k.startLoadLocked()
	k.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
		return ctx.Err()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lastErr
}

// startLoadLocked starts a load unless one is under way, and returns the channel closed
// when it ends. The caller holds k.mu.
func (k *KeySet) startLoadLocked() chan struct{} {
	if k.inflight == nil {
		k.inflight = make(chan struct{})
		k.wg.Add(1)
		go k.runLoad(k.inflight)
	}
	return k.inflight
}

func (k *KeySet) runLoad(ch chan struct{}) {
	defer k.wg.Done()
	ctx, cancel := context.WithTimeout(k.ctx, k.fetchTimeout)
	err := k.loadOnce(ctx)
	cancel()
	k.mu.Lock()
	k.inflight = nil
	k.lastErr = err
	k.mu.Unlock()
	close(ch)
	if err != nil {
		lvl := slog.LevelWarn
		if k.ctx.Err() != nil {
			lvl = slog.LevelDebug
		}
		k.log.Log(context.Background(), lvl, "loading signing keys failed; cached keys stay in use",
			"source", k.source, "cached", k.loaded.Load(), "err", err)
	}
}

// Reload loads the keys now (or joins the load under way) and waits for it, bypassing the
// unknown-kid rate limit: for callers that apply their own limit (internal/authserver/
// federation reloads an IdP's keys when an id_token straight from its token endpoint names
// a new kid). A failed load keeps the cached keys.
func (k *KeySet) Reload(ctx context.Context) error {
	if k.load == nil {
		return nil
	}
	return k.refresh(ctx)
}

// refreshUnknownKID reloads the keys because a token named a kid we do not have. It joins
// a load under way; otherwise it loads at most once per unknownKIDEvery and reports false
// (no load) when rate-limited.
func (k *KeySet) refreshUnknownKID(ctx context.Context) (bool, error) {
	if k.load == nil {
		return false, nil
	}
	k.mu.Lock()
	if k.inflight == nil {
		now := k.now()
		if !k.lastUnknown.IsZero() && now.Sub(k.lastUnknown) < k.unknownKIDEvery {
			k.mu.Unlock()
			return false, nil
		}
		k.lastUnknown = now
	}
	k.mu.Unlock()
	return true, k.refresh(ctx)
}

// loadOnce fetches and parses the JWKS and swaps it in.
func (k *KeySet) loadOnce(ctx context.Context) error {
	k.fetches.Add(1)
	raw, err := k.load(ctx)
	if err != nil {
		return err
	}
	jwks, issuers, err := parseJWKS(raw, k.log, k.source)
	if err != nil {
		return err
	}
	k.install(jwks, issuers)
	return nil
}

// install replaces the keys. The kid→issuer map is widened first so that any key visible
// in the storage always has its issuer member visible too.
func (k *KeySet) install(jwks []jwkset.JWK, issuers map[string]string) {
	old := k.issuers.Load()
	removed := false
	if old != nil {
		union := make(map[string]string, len(*old)+len(issuers))
		for kid, iss := range *old {
			union[kid] = iss
			if _, still := issuers[kid]; !still {
				removed = true
			}
		}
		for kid, iss := range issuers {
			union[kid] = iss
		}
		k.issuers.Store(&union)
	}
	_ = k.store.KeyReplaceAll(context.Background(), jwks) // the memory storage cannot fail
	k.issuers.Store(&issuers)
	if removed {
		k.gen.Add(1)
	}
	k.loaded.Store(true)
	k.log.Debug("signing keys loaded", "source", k.source, "keys", len(jwks))
}

// keyIssuer returns the "issuer" member published with kid, or "".
func (k *KeySet) keyIssuer(kid string) string {
	if m := k.issuers.Load(); m != nil {
		return (*m)[kid]
	}
	return ""
}

// lookup returns the verification key for the token (by kid; all keys when the token has
// no kid), re-loading the keys once on an unknown kid as rate limits allow.
// It returns errUnknownKID when the key is not found, or ErrKeysUnavailable.
func (k *KeySet) lookup(ctx context.Context, t *jwt.Token) (any, error) {
	key, err := k.kf.KeyfuncCtx(ctx)(t)
	if err == nil {
		if ks, ok := key.(jwt.VerificationKeySet); ok && len(ks.Keys) == 0 {
			err = jwkset.ErrKeyNotFound
		} else {
			return key, nil
		}
	}
	if !errors.Is(err, jwkset.ErrKeyNotFound) {
		kid, _ := t.Header["kid"].(string)
		return nil, Reject(ReasonAlgNotAllowed, "key %s of %s is not a signing key for alg %s (the JWK's alg or use differs): the token header does not match the key that signed it; get a new token from the issuer", clean(kid), clean(k.source), clean(t.Method.Alg()))
	}
	fetched, ferr := k.refreshUnknownKID(ctx)
	if fetched && ferr == nil || k.loaded.Load() {
		if key, err = k.kf.KeyfuncCtx(ctx)(t); err == nil {
			if ks, ok := key.(jwt.VerificationKeySet); !ok || len(ks.Keys) > 0 {
				return key, nil
			}
		}
	}
	if !k.loaded.Load() {
		k.mu.Lock()
		lastErr := k.lastErr
		k.mu.Unlock()
		if ferr != nil {
			lastErr = ferr
		}
		return nil, k.unavailable(lastErr)
	}
	return nil, errUnknownKID
}

var errUnknownKID = errors.New("unknown kid")

// parseJWKS parses a JWKS document into jwkset keys and the kid→issuer map. Keys that
// cannot be used (unsupported types, encryption keys, broken members) are skipped and
// logged; a set with no usable key is an error, so that a broken response never replaces
// good cached keys.
func parseJWKS(raw []byte, log *slog.Logger, source string) ([]jwkset.JWK, map[string]string, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, nil, fmt.Errorf("JWKS from %s is not JSON: %w", source, err)
	}
	var out []jwkset.JWK
	issuers := make(map[string]string, len(doc.Keys))
	for i, r := range doc.Keys {
		var meta struct {
			KID    string `json:"kid"`
			Use    string `json:"use"`
			Issuer string `json:"issuer"`
		}
		_ = json.Unmarshal(r, &meta)
		if meta.Use != "" && meta.Use != "sig" {
			continue
		}
		jwk, err := jwkset.NewJWKFromRawJSON(r, jwkset.JWKMarshalOptions{Private: false}, jwkset.JWKValidateOptions{})
		if err != nil {
			log.Warn("skipping unusable JWKS key", "source", source, "index", i, "kid", meta.KID, "err", err)
			continue
		}
		if _, dup := issuers[meta.KID]; dup && meta.KID != "" {
			log.Warn("skipping duplicate kid in JWKS", "source", source, "kid", meta.KID)
			continue
		}
		out = append(out, jwk)
		issuers[meta.KID] = meta.Issuer
	}
	if len(out) == 0 {
		return nil, nil, fmt.Errorf("JWKS from %s has no usable signing key (%d keys in the document)", source, len(doc.Keys))
	}
	return out, issuers, nil
}

// httpGet fetches url with client, expecting 200 and a body of at most maxJWKSBytes.
func httpGet(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("fetching %s: HTTP %d", url, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", url, err)
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("%s is larger than %d bytes", url, maxJWKSBytes)
	}
	return body, nil
}

func urlLoader(client *http.Client, url string) func(context.Context) ([]byte, error) {
	return func(ctx context.Context) ([]byte, error) { return httpGet(ctx, client, url) }
}

func fileLoader(path string) func(context.Context) ([]byte, error) {
	return func(context.Context) ([]byte, error) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading JWKS file: %w", err)
		}
		return b, nil
	}
}

// discoveryLoader finds jwks_uri in {issuer}/.well-known/openid-configuration (OpenID
// Connect Discovery 1.0 §4), checking that the document's issuer is the configured one
// (§4.3), then fetches the JWKS. The jwks_uri is remembered and discovered again after a
// failed JWKS fetch.
func discoveryLoader(client *http.Client, issuer string) func(context.Context) ([]byte, error) {
	var mu sync.Mutex
	var jwksURI string
	return func(ctx context.Context) ([]byte, error) {
		mu.Lock()
		u := jwksURI
		mu.Unlock()
		if u == "" {
			wk := trimSlash(issuer) + "/.well-known/openid-configuration"
			body, err := httpGet(ctx, client, wk)
			if err != nil {
				return nil, fmt.Errorf("OIDC discovery: %w", err)
			}
			var doc struct {
				Issuer  string `json:"issuer"`
				JWKSURI string `json:"jwks_uri"`
			}
			if err := json.Unmarshal(body, &doc); err != nil {
				return nil, fmt.Errorf("OIDC discovery: %s is not JSON: %w", wk, err)
			}
			if doc.Issuer != issuer {
				return nil, fmt.Errorf("OIDC discovery: %s names issuer %q, not the configured %q (set issuer to the exact value, or give jwksURL)", wk, doc.Issuer, issuer)
			}
			if doc.JWKSURI == "" {
				return nil, fmt.Errorf("OIDC discovery: %s has no jwks_uri (give jwksURL)", wk)
			}
			u = doc.JWKSURI
		}
		body, err := httpGet(ctx, client, u)
		mu.Lock()
		if err != nil {
			jwksURI = ""
		} else {
			jwksURI = u
		}
		mu.Unlock()
		return body, err
	}
}

func trimSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}
