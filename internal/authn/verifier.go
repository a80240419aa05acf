package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/sync/singleflight"

	"github.com/mcpgate/mcpgate/internal/guid"
)

// JWTVerifier verifies JWT access tokens of a set of issuers for a set of audiences. Build
// it with Registry.Verifier. It is safe for concurrent use.
//
// Checks, in order (cheap ones before the signature, so that garbage costs little):
// alg (never none, never HMAC, and on the issuer's list); iss (exact, or an Entra {tenantid}
// template with tid a GUID on the allow-list); Entra token version; exp (required), nbf and
// iat with the issuer's clock skew; aud (string or array) against the verifier's audiences
// plus the issuer's; required claims; the key by kid (re-loading the JWKS on an unknown kid,
// rate-limited) and, for Entra, the key's issuer member; then the signature.
type JWTVerifier struct {
	issuers   []*issuer
	audiences []string
	parser    *jwt.Parser
	cache     *tokenCache
	now       func() time.Time
	log       *slog.Logger

	verified atomic.Int64 // signature checks that succeeded (cold path)
	// inflight merges concurrent cold checks of the same token (a client often sends
	// several requests at once with a fresh token): one signature check, one cache entry.
	inflight singleflight.Group
}

var _ Verifier = (*JWTVerifier)(nil)

func newJWTVerifier(iss []*issuer, audiences []string, o Options, log *slog.Logger) *JWTVerifier {
	return &JWTVerifier{
		issuers:   iss,
		audiences: audiences,
		// Claims are validated by us (for precise reasons); the method check is also ours,
		// per issuer, in keyfunc — golang-jwt still refuses none without its unsafe marker.
		parser: jwt.NewParser(jwt.WithoutClaimsValidation()),
		cache:  newTokenCache(o.CacheSize, o.Now),
		now:    o.Now,
		log:    log,
	}
}

// Verified returns how many tokens had their signature checked (cache misses that passed).
func (v *JWTVerifier) Verified() int64 { return v.verified.Load() }

// CacheLen returns the number of tokens in the verified-token cache.
func (v *JWTVerifier) CacheLen() int {
	if v.cache == nil {
		return 0
	}
	return v.cache.len()
}

// Verify implements Verifier.
func (v *JWTVerifier) Verify(ctx context.Context, token string) (*Principal, error) {
	if token == "" {
		return nil, Reject(ReasonMissing, "no bearer token: send the access token in the Authorization header as Bearer <token>")
	}
	if v.cache != nil {
		if p := v.cache.get(token); p != nil {
			return p, nil
		}
	}
	var p *Principal
	var err error
	if v.cache != nil {
		// The shared check must not die with the first caller's context; it is bounded by
		// the key set's fetch timeout.
		shared := context.WithoutCancel(ctx)
		var res any
		res, err, _ = v.inflight.Do(token, func() (any, error) {
			// A caller that missed the cache just before an earlier check of the same
			// token stored its result arrives here after that check has left the group:
			// look again rather than verify twice.
			if p := v.cache.get(token); p != nil {
				return p, nil
			}
			return v.verifyCold(shared, token)
		})
		p, _ = res.(*Principal)
	} else {
		p, err = v.verifyCold(ctx, token)
	}
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			v.log.DebugContext(ctx, "token rejected", "reason", e.Reason, "token_hash", HashToken(token)[:16], "description", e.Description)
		} else {
			v.log.WarnContext(ctx, "token not verified: technical failure", "token_hash", HashToken(token)[:16], "err", err)
		}
		return nil, err
	}
	return p, nil
}

// verifyState carries what keyfunc learns about the token to the rest of verifyCold.
type verifyState struct {
	v      *JWTVerifier
	ctx    context.Context
	is     *issuer
	form   *issuerForm
	tid    string
	exp    time.Time
	iat    time.Time
	aud    []string
	keys   *KeySet
	gen    uint64
	kid    string
	alg    string
	claims jwt.MapClaims
	tech   error // a technical failure met in keyfunc, returned as is
}

func (v *JWTVerifier) verifyCold(ctx context.Context, token string) (*Principal, error) {
	if strings.Count(token, ".") != 2 {
		return nil, Reject(ReasonMalformed, "the bearer token is not a JWT (three base64url parts separated by dots): send the access token issued for this server, not an opaque token, an API key or a cookie")
	}
	st := &verifyState{v: v, ctx: ctx}
	claims := jwt.MapClaims{}
	_, err := v.parser.ParseWithClaims(token, claims, st.keyfunc)
	if err != nil {
		return nil, st.classify(err)
	}
	v.verified.Add(1)
	p := st.principal(claims, token)
	if v.cache != nil {
		v.cache.put(token, p, st.exp, st.keys, st.gen)
	}
	return p, nil
}

// classify turns a golang-jwt error into a rejection (or passes a technical failure on).
func (st *verifyState) classify(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if st.tech != nil {
		return st.tech
	}
	switch {
	case errors.Is(err, jwt.ErrTokenMalformed):
		return Reject(ReasonMalformed, "the bearer token is not a well-formed JWT (its header, claims or signature do not decode): send the access token unchanged, as the issuer returned it")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		who := "the issuer"
		if st.is != nil {
			who = "issuer " + st.is.name
		}
		kid := ""
		if st.kid != "" {
			kid = " " + clean(st.kid)
		}
		return Reject(ReasonBadSignature, "the token signature does not verify with key%s of %s: the token was altered or not signed by that issuer; get a new token from it", kid, who)
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return Reject(ReasonAlgNotAllowed, "the token header names no signing algorithm or one this gateway does not know (allowed: %s): tokens must be signed by the issuer with an asymmetric key", strings.Join(defaultAlgorithms, ", "))
	}
	return Reject(ReasonMalformed, "the token could not be read: %s", clean(err.Error()))
}

// keyfunc runs after golang-jwt decoded the header and claims and before it checks the
// signature: it applies every claim check and returns the issuer's key.
func (st *verifyState) keyfunc(t *jwt.Token) (any, error) {
	v := st.v
	alg := t.Method.Alg()
	st.alg = alg
	switch {
	case alg == "none":
		return nil, Reject(ReasonAlgNotAllowed, "the token is unsigned (alg none), which is never accepted: get a signed access token from the issuer")
	case strings.HasPrefix(strings.ToUpper(alg), "HS"):
		return nil, Reject(ReasonAlgNotAllowed, "the token is signed with %s, a shared-secret (HMAC) algorithm that is never accepted because anyone holding the published key could forge it: the issuer must sign with its private key (RS256, PS256, ES256)", clean(alg))
	}
	claims, ok := t.Claims.(jwt.MapClaims)
	if !ok {
		return nil, Reject(ReasonMalformed, "the token claims are not a JSON object")
	}
	st.claims = claims

	// Issuer.
	issRaw, present := claims["iss"]
	iss, isString := issRaw.(string)
	if !present || !isString || iss == "" {
		return nil, Reject(ReasonWrongIssuer, "the token has no iss claim (or it is not a string); this route accepts tokens from %s", displayIssuers(v.issuers))
	}
	var tid string
	for _, is := range v.issuers {
		for _, f := range is.forms {
			if t, ok := f.match(iss); ok {
				st.is, st.form, tid = is, f, t
				break
			}
		}
		if st.is != nil {
			break
		}
	}
	if st.is == nil {
		if ver := versionFromClaim(claims["ver"]); ver != 0 {
			if tidClaim, _ := claims["tid"].(string); tidClaim != "" {
				return nil, Reject(ReasonWrongIssuer, "%s", entraVersionHint(iss, ver, tidClaim, displayIssuers(v.issuers)))
			}
		}
		return nil, Reject(ReasonWrongIssuer, "the token issuer is %s but this route accepts tokens from %s: sign in with one of those, or, if %s is trusted, add it under issuers and to this route's auth.issuers", clean(iss), displayIssuers(v.issuers), clean(iss))
	}
	is, form := st.is, st.form
	if !slices.Contains(is.algs, alg) {
		return nil, Reject(ReasonAlgNotAllowed, "the token is signed with %s, which issuer %s does not allow (allowed: %s): add it to the issuer's algorithms if the issuer really signs with it", clean(alg), is.name, strings.Join(is.algs, ", "))
	}

	// Entra: version and tenant.
	if e := is.entra; e != nil {
		if err := st.checkEntra(e, form, iss, tid); err != nil {
			return nil, err
		}
	}

	// Times.
	now := v.now()
	exp, err := claims.GetExpirationTime()
	if err != nil {
		return nil, Reject(ReasonMalformed, "the token exp claim is not a number of seconds: the issuer produced an invalid token")
	}
	if exp == nil {
		return nil, Reject(ReasonMissingClaim, "the token has no exp claim; tokens without an expiry are not accepted: configure the issuer to set one")
	}
	st.exp = exp.Time
	if now.After(exp.Add(is.skew)) {
		return nil, Reject(ReasonExpired, "the token expired at %s (%s ago, beyond the allowed clock skew of %s): get a new token (refresh it or sign in again)", exp.UTC().Format(time.RFC3339), roundDur(now.Sub(exp.Time)), is.skew)
	}
	nbf, err := claims.GetNotBefore()
	if err != nil {
		return nil, Reject(ReasonMalformed, "the token nbf claim is not a number of seconds: the issuer produced an invalid token")
	}
	if nbf != nil && now.Add(is.skew).Before(nbf.Time) {
		return nil, Reject(ReasonNotYetValid, "the token is not valid before %s (%s from now, beyond the allowed clock skew of %s): check the clocks of the issuer and of this gateway", nbf.UTC().Format(time.RFC3339), roundDur(nbf.Sub(now)), is.skew)
	}
	iat, err := claims.GetIssuedAt()
	if err != nil {
		return nil, Reject(ReasonMalformed, "the token iat claim is not a number of seconds: the issuer produced an invalid token")
	}
	if iat != nil {
		st.iat = iat.Time
		if now.Add(is.skew).Before(iat.Time) {
			return nil, Reject(ReasonNotYetValid, "the token was issued in the future (iat %s, %s from now, beyond the allowed clock skew of %s): check the clocks of the issuer and of this gateway", iat.UTC().Format(time.RFC3339), roundDur(iat.Sub(now)), is.skew)
		}
	}

	// Audience.
	aud, err := claims.GetAudience()
	if err != nil {
		return nil, Reject(ReasonMalformed, "the token aud claim is neither a string nor an array of strings")
	}
	st.aud = aud
	if !st.audienceOK(aud) {
		return nil, st.wrongAudience(aud)
	}

	// Required claims.
	for _, c := range is.required {
		if val, ok := claims[c]; !ok || val == nil || val == "" {
			return nil, Reject(ReasonMissingClaim, "the token has no %s claim, which issuer %s requires: configure the issuer (or the app registration's optional claims) to include it", clean(c), is.name)
		}
	}

	// Key.
	keys := form.keys
	if keys == nil { // a version without keys is rejected by checkEntra; defensive
		return nil, Reject(ReasonVersionNotAllowed, "tokens of this form are not accepted by issuer %s", is.name)
	}
	kid, _ := t.Header["kid"].(string)
	st.kid = kid
	if is.entra != nil && kid == "" {
		return nil, Reject(ReasonMalformed, "the token header has no kid, which every Entra token carries: send the access token as Entra issued it")
	}
	st.keys = keys
	st.gen = keys.gen.Load()
	key, err := keys.lookup(st.ctx, t)
	if err != nil {
		if errors.Is(err, errUnknownKID) {
			return nil, Reject(ReasonUnknownKID, "the token is signed with key id %s, which issuer %s does not publish (keys from %s): the token may come from another environment or tenant, or its key was rotated out; sign in again", clean(kid), is.name, clean(keys.Source()))
		}
		st.tech = err
		return nil, err
	}
	if is.entra != nil {
		if ki := keys.keyIssuer(kid); ki != "" {
			ki = strings.ReplaceAll(ki, tenantPlaceholder, st.tid)
			other := is.entra.issuerFor(3-form.version, st.tid)
			if ki != iss && ki != other {
				return nil, Reject(ReasonKeyIssuerMismatch, "the token's signing key %s belongs to issuer %s, not to the token's issuer %s: the token does not come from the tenant it names; get a token from your own tenant", clean(kid), clean(ki), clean(iss))
			}
		}
	}
	return key, nil
}

func (st *verifyState) checkEntra(e *entraRules, form *issuerForm, iss, tidFromIss string) error {
	is := st.is
	tidClaim, _ := st.claims["tid"].(string)
	if ver := versionFromClaim(st.claims["ver"]); ver != 0 && ver != form.version {
		return Reject(ReasonVersionMismatch, "the token says ver %d.0 but its issuer %s is the v%d form: the token was not issued by Entra as it claims", ver, clean(iss), form.version)
	}
	if !slices.Contains(e.versions, form.version) {
		want := make([]string, len(e.versions))
		for i, v := range e.versions {
			want[i] = "v" + string(rune('0'+v))
		}
		return Reject(ReasonVersionNotAllowed, "the token is an Entra v%d access token but issuer %s accepts only %s: set accessTokenAcceptedVersion (requestedAccessTokenVersion) to %d in the API app's manifest, or add %d to entra.versions", form.version, is.name, strings.Join(want, ", "), e.versions[0], form.version)
	}
	if form.tmpl {
		tid := tidFromIss
		if !guid.Valid(tid) {
			return Reject(ReasonWrongIssuer, "the token issuer %s does not name a tenant GUID", clean(iss))
		}
		if tidClaim != tid {
			return Reject(ReasonWrongIssuer, "the token issuer names tenant %s but its tid claim is %s: the token is inconsistent", clean(tid), clean(tidClaim))
		}
		if !e.allowedTenants[strings.ToLower(tid)] {
			return Reject(ReasonTenantNotAllowed, "the token is from tenant %s, which issuer %s does not allow: if users of that organization may use this server, add %s to entra.allowedTenants", clean(tid), is.name, clean(tid))
		}
		st.tid = tid
		return nil
	}
	if tidClaim != "" && !strings.EqualFold(tidClaim, e.tenant) {
		return Reject(ReasonTenantNotAllowed, "the token's tid is %s but issuer %s accepts only tenant %s: sign in with an account of that tenant", clean(tidClaim), is.name, e.tenant)
	}
	st.tid = e.tenant
	return nil
}

func (st *verifyState) audienceOK(aud []string) bool {
	for _, a := range aud {
		if slices.Contains(st.v.audiences, a) || slices.Contains(st.is.audiences, a) {
			return true
		}
	}
	return false
}

func (st *verifyState) wrongAudience(aud []string) error {
	accepted := slices.Clone(st.v.audiences)
	for _, a := range st.is.audiences {
		if !slices.Contains(accepted, a) {
			accepted = append(accepted, a)
		}
	}
	got := "missing"
	if len(aud) > 0 {
		got = cleanList(aud)
	}
	fix := "request a token for resource " + clean(accepted[0]) + " (the resource parameter, RFC 8707)"
	if e := st.is.entra; e != nil {
		if e.scopeHint != "" {
			fix = "request a token with scope " + clean(e.scopeHint) + " (your API's scope, not Microsoft Graph's)"
		}
		for _, a := range aud {
			if a == "00000003-0000-0000-c000-000000000000" || strings.HasPrefix(a, "https://graph.microsoft.com") {
				fix = "this is a Microsoft Graph token, which only Graph can validate; " + fix
				break
			}
		}
	}
	return Reject(ReasonWrongAudience, "the token audience is %s but this route accepts %s: %s", got, cleanList(accepted), fix)
}

// entraVersionHint explains a wrong_issuer for an Entra token: the two issuer forms are the
// two token versions, and the API app's accessTokenAcceptedVersion decides which one Entra
// issues, whichever endpoint the client used.
func entraVersionHint(iss string, ver int, tid, accepted string) string {
	other := 2
	if ver == 2 {
		other = 1
	}
	return fmt.Sprintf("the token is an Entra v%d access token (ver %d.0, issuer %s) but this route accepts tokens from %s: "+
		"the API app's accessTokenAcceptedVersion (requestedAccessTokenVersion in the manifest) decides the version "+
		"(null or 1: v1, issuer https://sts.windows.net/%s/; 2: v2, issuer https://login.microsoftonline.com/%s/v2.0), not the endpoint the client used; "+
		"use the entra: issuer preset (tenant, clientId, appIdUri), which accepts both versions, or configure the v%d issuer, or set accessTokenAcceptedVersion to %d",
		ver, ver, clean(iss), accepted, clean(tid), clean(tid), ver, other)
}
