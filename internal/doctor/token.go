package doctor

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/client"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
)

// Step ids of CheckToken, in order.
const (
	StepTokenForm      = "token-form"
	StepTokenType      = "token-type"
	StepTokenIssuer    = "token-issuer"
	StepTokenVersion   = "token-version"
	StepTokenAudience  = "token-audience"
	StepTokenExpiry    = "token-expiry"
	StepTokenClock     = "token-clock"
	StepTokenScopes    = "token-scopes"
	StepTokenSignature = "token-signature"
)

var tokenSteps = []string{StepTokenForm, StepTokenType, StepTokenIssuer, StepTokenVersion, StepTokenAudience,
	StepTokenExpiry, StepTokenClock, StepTokenScopes, StepTokenSignature}

// Target is what a token is checked against: what the gateway in front of one MCP endpoint
// accepts.
type Target struct {
	// Resource is the MCP endpoint (its PRM resource).
	Resource string
	// Audiences are the aud values accepted (default [Resource]).
	Audiences []string
	// Issuers are the accepted iss values. An Entra issuer's key set is found through Keys.
	Issuers []TargetIssuer
	// Scopes are the scopes every request needs (the route's auth.scopes or the challenge).
	Scopes []string
	// ClockSkew tolerated on exp, nbf and iat (default 60 s, the gateway's default).
	ClockSkew time.Duration
	// FromConfig is true when the target comes from the gateway's configuration (so the
	// audiences and issuers are exactly what it accepts), false when it was read from a
	// server's metadata (so an Entra audience may be accepted without the doctor knowing).
	FromConfig bool
}

// TargetIssuer is one accepted issuer and where its keys are.
type TargetIssuer struct {
	// Issuer is the exact iss value ({tenantid} templates allowed for Entra multi-tenant).
	Issuer string
	// JWKSURL is where the signing keys are ("" when unknown).
	JWKSURL string
	// JWKS is an inline key set (from the configuration), used instead of JWKSURL.
	JWKS []byte
}

// TargetFromDiscovery builds the target from what CheckURL found: the PRM resource as
// audience, the authorization server's issuer and key set, and the challenge's scopes.
func TargetFromDiscovery(d *Discovery) (*Target, error) {
	if d == nil || d.Resource == nil || d.Server == nil {
		return nil, errors.New("the server's metadata could not be read; run mcpgate doctor URL to see why")
	}
	t := &Target{Resource: d.Resource.Resource, Audiences: []string{d.Resource.Resource}, Scopes: strings.Fields(d.Challenge.Scope)}
	t.Issuers = append(t.Issuers, TargetIssuer{Issuer: d.Server.Issuer, JWKSURL: d.Server.JWKSURI})
	if tid, v := entraTenant(d.Server.Issuer); v == 2 {
		// The Entra preset accepts v1 tokens of the same tenant by default.
		v1 := "https://sts.windows.net/" + tid + "/"
		keys := strings.TrimSuffix(d.Server.JWKSURI, "/discovery/v2.0/keys") + "/discovery/keys"
		t.Issuers = append(t.Issuers, TargetIssuer{Issuer: v1, JWKSURL: keys})
	}
	return t, nil
}

// TargetFromURL runs the discovery of CheckURL and builds the target from it.
func TargetFromURL(ctx context.Context, serverURL string, o Options) (*Target, error) {
	r, d := CheckURL(ctx, serverURL, o)
	t, err := TargetFromDiscovery(d)
	if err != nil {
		for _, s := range r.Steps {
			if s.Status == StatusFail {
				return nil, fmt.Errorf("reading %s's metadata: %s", serverURL, s.Finding)
			}
		}
	}
	return t, err
}

type jwtHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
	Typ string `json:"typ"`
}

// CheckToken explains whether the gateway described by t would accept token, claim by claim.
// The token is never sent anywhere (only the issuer's public keys are fetched) and never
// printed.
func CheckToken(ctx context.Context, token string, t *Target, o Options) *Report {
	r := &Report{}
	rest := func(from string) []string { return tokenSteps[slices.Index(tokenSteps, from):] }
	token = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(token), "Bearer "))

	// Form.
	parts := strings.Split(token, ".")
	var hdr jwtHeader
	claims, cerr := client.DecodeClaims(token)
	if len(parts) != 3 || cerr != nil || decodeSegment(parts[0], &hdr) != nil {
		why := "not a JWT (an opaque token, or it was cut when pasted)"
		if cerr != nil && len(parts) == 3 {
			why = cerr.Error()
		}
		r.fail(StepTokenForm, why+": the gateway verifies JWT access tokens only (reason "+authn.ReasonMalformed+")",
			"paste the access_token exactly as the token endpoint returned it (three base64url parts separated by dots); an opaque token needs an issuer that issues JWTs for this API")
		r.skip("skipped: the token could not be decoded", rest(StepTokenType)...)
		return r
	}
	r.ok(StepTokenForm, fmt.Sprintf("JWT, alg %s, kid %s", orNone(hdr.Alg), orNone(hdr.Kid)))

	// Type.
	scopes := tokenScopes(claims)
	aud := audList(claims["aud"])
	iss, _ := claims["iss"].(string)
	clientID := firstString(claims, "azp", "appid", "client_id")
	_, hasNonce := claims["nonce"]
	_, hasAtHash := claims["at_hash"]
	_, hasRoles := claims["roles"]
	lowTyp := strings.ToLower(hdr.Typ)
	idToken := false
	switch {
	case lowTyp == "at+jwt" || lowTyp == "application/at+jwt":
		r.ok(StepTokenType, "an access token (typ "+hdr.Typ+")")
	case len(scopes) == 0 && !hasRoles && (hasNonce || hasAtHash || (clientID == "" && len(aud) == 1 && !strings.Contains(aud[0], "://") && isEntraTokenLike(claims)) || (clientID != "" && slices.Contains(aud, clientID))):
		r.fail(StepTokenType, "this is an ID token (no scopes; aud "+strings.Join(aud, " ")+" is the client application itself), not an access token for this server",
			"send the access_token of the token response, not the id_token; an ID token tells the client who signed in, the gateway needs a token issued for it (Entra OBO refuses it too: AADSTS240002)")
		idToken = true
	case len(scopes) == 0 && hasRoles:
		r.ok(StepTokenType, "an app-only access token (roles, no delegated scopes)")
	default:
		r.ok(StepTokenType, "an access token")
	}

	// Issuer.
	skew := t.ClockSkew
	if skew <= 0 {
		skew = 60 * time.Second
	}
	var matched *TargetIssuer
	for i := range t.Issuers {
		if issuerMatches(t.Issuers[i].Issuer, iss, claims) {
			matched = &t.Issuers[i]
			break
		}
	}
	var trusted []string
	for _, is := range t.Issuers {
		trusted = append(trusted, is.Issuer)
	}
	tokTenant, tokVer := entraTenant(iss)
	if matched != nil {
		r.ok(StepTokenIssuer, "issued by "+iss+", which this server trusts")
	} else {
		finding := "issued by " + orNone(iss) + "; this server trusts " + strings.Join(trusted, ", ") + " (reason " + authn.ReasonWrongIssuer + ")"
		fix := "sign in through the authorization server the server names; if " + orNone(iss) + " is trustworthy, add it under issuers and to the route's auth.issuers"
		for _, want := range trusted {
			wt, wv := entraTenant(want)
			switch {
			case tokVer == 2 && wv == 1 && strings.EqualFold(wt, tokTenant):
				finding = "a v2 token (iss " + iss + ") but the issuer is configured in its v1 form " + want + " (reason " + authn.ReasonWrongIssuer + ")"
				fix = "the API app issues v2 tokens (accessTokenAcceptedVersion 2): configure the issuer with the entra: preset (accepts both forms) or as " + iss
			case tokVer == 1 && wv == 2 && strings.EqualFold(wt, tokTenant):
				finding = "a v1 token (iss " + iss + ") but only v2 tokens (iss " + want + ") are accepted (reason " + authn.ReasonWrongIssuer + ")"
				fix = "set accessTokenAcceptedVersion to 2 in the API app's manifest (Entra sends v1 tokens when it is null or 1), or accept v1 tokens (entra.versions: [1, 2])"
			default:
				continue
			}
			break
		}
		r.fail(StepTokenIssuer, finding, fix)
	}

	// Entra version claim vs the form of iss.
	ver, _ := claims["ver"].(string)
	switch {
	case tokVer == 0:
		r.skip("not an Entra ID token", StepTokenVersion)
	case ver == "":
		r.ok(StepTokenVersion, fmt.Sprintf("no ver claim; iss is the v%d form", tokVer))
	case (ver == "1.0") == (tokVer == 1):
		r.ok(StepTokenVersion, fmt.Sprintf("ver %s matches the v%d issuer form", ver, tokVer))
	default:
		r.fail(StepTokenVersion, fmt.Sprintf("ver %s disagrees with the v%d issuer form of iss (reason %s)", ver, tokVer, authn.ReasonVersionMismatch),
			"the token was not issued by Entra ID as it claims; get a new one from the tenant's endpoints")
	}

	// Audience.
	accepted := t.Audiences
	if len(accepted) == 0 && t.Resource != "" {
		accepted = []string{t.Resource}
	}
	audOK := false
	for _, a := range aud {
		if slices.Contains(accepted, a) || slices.Contains(accepted, strings.TrimSuffix(a, "/")) {
			audOK = true
		}
	}
	switch {
	case idToken:
		r.skip("skipped: an ID token is never accepted, whatever its audience", StepTokenAudience)
	case audOK:
		r.ok(StepTokenAudience, "aud "+strings.Join(aud, " ")+" is accepted here")
	case len(aud) == 0:
		r.fail(StepTokenAudience, "the token has no aud claim (reason "+authn.ReasonWrongAudience+")",
			"request the token for this server: resource="+t.Resource+" (RFC 8707), or the API's scope at Entra")
	case slices.Contains(aud, "00000003-0000-0000-c000-000000000000") || slices.Contains(aud, "https://graph.microsoft.com"):
		r.fail(StepTokenAudience, "a Microsoft Graph token (aud "+strings.Join(aud, " ")+"): only Graph can validate it (reason "+authn.ReasonWrongAudience+")",
			"request your API's scope (api://<app-id>/<scope> or api://<app-id>/.default), not a Graph scope such as User.Read")
	case tokVer != 0 && !t.FromConfig && (isGUID(aud[0]) || strings.HasPrefix(aud[0], "api://")):
		r.warn(StepTokenAudience, "aud "+aud[0]+" is the Entra API app ("+audForm(aud[0])+"), not "+t.Resource+"; the server's metadata cannot say whether its gateway accepts it",
			"check with mcpgate doctor token --config: the entra: issuer preset accepts both clientId (GUID) and appIdUri (api://…)")
	default:
		finding := "aud " + strings.Join(aud, " ") + " is not accepted here; accepted: " + strings.Join(accepted, ", ") + " (reason " + authn.ReasonWrongAudience + ")"
		fix := "request the token for this server: resource=" + t.Resource + " (RFC 8707); tokens are bound to one resource"
		switch {
		case isGUID(aud[0]) && anyPrefix(accepted, "api://"):
			finding = "aud is the API app's client id " + aud[0] + " (Entra v2 form), but only " + strings.Join(accepted, ", ") + " is accepted (reason " + authn.ReasonWrongAudience + ")"
			fix = "Entra v2 tokens carry the client id GUID: use the entra: issuer preset with clientId: " + aud[0] + " (it accepts both forms), or add " + aud[0] + " to the route's auth.audiences"
		case strings.HasPrefix(aud[0], "api://") && anyGUID(accepted):
			finding = "aud is the App ID URI " + aud[0] + " (Entra v1 form), but only " + strings.Join(accepted, ", ") + " is accepted (reason " + authn.ReasonWrongAudience + ")"
			fix = "Entra v1 tokens carry the App ID URI: use the entra: issuer preset with appIdUri: " + aud[0] + ", or add it to the route's auth.audiences"
		case sameHost(aud[0], t.Resource):
			finding = "the token is for " + aud[0] + ", another MCP endpoint on this host, not " + t.Resource + " (reason " + authn.ReasonWrongAudience + ")"
			fix = "sign in to " + t.Resource + " itself (mcpgate login " + t.Resource + "): a token is bound to the one resource it was requested for"
		}
		r.fail(StepTokenAudience, finding, fix)
	}

	// Expiry and clock.
	now := o.now()
	exp, hasExp := numClaim(claims, "exp")
	switch {
	case !hasExp:
		r.fail(StepTokenExpiry, "the token has no exp claim; the gateway refuses tokens that never expire (reason "+authn.ReasonMissingClaim+")",
			"configure the issuer to put exp in access tokens")
	case now.After(exp.Add(skew)):
		r.fail(StepTokenExpiry, fmt.Sprintf("expired %s ago (exp %s; tolerance %s) (reason %s)", roundAgo(now.Sub(exp)), exp.UTC().Format(time.RFC3339), skew, authn.ReasonExpired),
			"refresh the token or sign in again (mcpgate login "+t.Resource+"); if it looks fresh, check this host's clock")
	case now.After(exp):
		r.warn(StepTokenExpiry, fmt.Sprintf("expired %s ago, still inside the %s clock tolerance", roundAgo(now.Sub(exp)), skew),
			"refresh the token now")
	default:
		r.ok(StepTokenExpiry, fmt.Sprintf("valid for %s more (exp %s)", roundAgo(exp.Sub(now)), exp.UTC().Format(time.RFC3339)))
	}
	var future []string
	for _, c := range []string{"iat", "nbf"} {
		if ts, ok := numClaim(claims, c); ok && ts.After(now.Add(skew)) {
			future = append(future, fmt.Sprintf("%s is %s in the future", c, roundAgo(ts.Sub(now))))
		}
	}
	if len(future) > 0 {
		r.fail(StepTokenClock, strings.Join(future, ", ")+fmt.Sprintf(" (tolerance %s): the issuer's clock or this host's is wrong (reason %s)", skew, authn.ReasonNotYetValid),
			"synchronise the clocks (NTP) of the identity provider and the gateway host, or raise the issuer's clockSkew")
	} else {
		r.ok(StepTokenClock, "iat and nbf are not in the future (tolerance "+skew.String()+")")
	}

	// Scopes.
	var missing []string
	for _, s := range t.Scopes {
		if !slices.Contains(scopes, s) && !slices.ContainsFunc(scopes, func(g string) bool { return strings.HasSuffix(g, "/"+s) }) {
			missing = append(missing, s)
		}
	}
	switch {
	case idToken:
		r.skip("skipped: an ID token carries no scopes", StepTokenScopes)
	case len(missing) > 0:
		r.fail(StepTokenScopes, "missing scope "+strings.Join(missing, " ")+" (the token has: "+orNone(strings.Join(scopes, " "))+"); the gateway answers 403 insufficient_scope",
			"sign in again asking for "+strings.Join(missing, " ")+" (clients take it from the 401 challenge); at Entra the API must expose it and the client ask for api://<app-id>/"+missing[0])
	case len(t.Scopes) == 0:
		r.ok(StepTokenScopes, "no scope required; the token has: "+orNone(strings.Join(scopes, " ")))
	default:
		r.ok(StepTokenScopes, "has the required "+strings.Join(t.Scopes, " "))
	}

	// Signature.
	if matched == nil {
		r.skip("skipped: the issuer is not trusted here, so there is no key set to check against", StepTokenSignature)
		return r
	}
	r.Steps = append(r.Steps, checkSignature(ctx, token, hdr, *matched, tokTenant, o))
	return r
}

func checkSignature(ctx context.Context, token string, hdr jwtHeader, is TargetIssuer, tenant string, o Options) Step {
	fail := func(f, fix string) Step {
		return Step{ID: StepTokenSignature, Status: StatusFail, Finding: oneLine(f), Fix: oneLine(fix)}
	}
	raw := is.JWKS
	src := "the configured key set"
	if raw == nil {
		if is.JWKSURL == "" {
			return Step{ID: StepTokenSignature, Status: StatusWarn, Finding: "not verified: the issuer's key set URL is unknown", Fix: "give --url or --config so the doctor can find the issuer's jwks_uri"}
		}
		u := strings.ReplaceAll(is.JWKSURL, "{tenantid}", tenant)
		src = u
		b, err := fetch(ctx, o.http(), u)
		if err != nil {
			return fail("not verified: the key set at "+u+" is unreachable ("+err.Error()+"); a gateway that cannot reach it answers 503, not 401",
				"make "+u+" reachable from the gateway host (DNS, firewall, proxy), or configure the keys with jwksURL or jwksFile")
		}
		raw = b
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil {
		return fail("not verified: the key set at "+src+" is not a JWKS ("+err.Error()+")", "point the issuer's jwksURL at its JSON Web Key Set")
	}
	keys := set.Key(hdr.Kid)
	if hdr.Kid == "" && len(set.Keys) == 1 {
		keys = set.Keys
	}
	if len(keys) == 0 {
		return fail("the key set at "+src+" has no key "+orNone(hdr.Kid)+" (reason "+authn.ReasonUnknownKID+")",
			"the token comes from another environment or tenant, or its key was rotated out; sign in again against the issuer this server trusts")
	}
	_, err := jwt.NewParser(jwt.WithoutClaimsValidation(), jwt.WithValidMethods([]string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})).
		Parse(token, func(*jwt.Token) (any, error) { return keys[0].Key, nil })
	if err != nil {
		reason := authn.ReasonBadSignature
		if errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			return fail("the signature does not verify with key "+orNone(hdr.Kid)+" from "+src+" (reason "+reason+")",
				"the token was altered or signed by someone else; get a new token from the issuer")
		}
		return fail("the signature could not be checked: "+err.Error()+" (reason "+authn.ReasonAlgNotAllowed+")",
			"have the issuer sign with an asymmetric algorithm (RS256, PS256, ES256); none and HMAC are refused")
	}
	return Step{ID: StepTokenSignature, Status: StatusOK, Finding: "signature verified with key " + orNone(hdr.Kid) + " from " + src}
}

func fetch(ctx context.Context, hc *http.Client, u string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, ue.Err
		}
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return jsonlimit.Read(resp.Body, 1<<20, jsonlimit.Limits{})
}

func decodeSegment(seg string, v any) error {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(seg, "="))
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

// issuerMatches compares an accepted issuer (possibly an Entra {tenantid} template) with iss.
func issuerMatches(want, iss string, claims map[string]any) bool {
	if want == iss {
		return true
	}
	if i := strings.Index(want, "{tenantid}"); i >= 0 {
		tid, _ := claims["tid"].(string)
		return tid != "" && strings.ReplaceAll(want, "{tenantid}", tid) == iss
	}
	return false
}

func tokenScopes(c map[string]any) []string {
	for _, k := range []string{"scope", "scp"} {
		if v, ok := c[k]; ok {
			return authn.ClaimStrings(v, true)
		}
	}
	return nil
}

func audList(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, x := range a {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func firstString(c map[string]any, keys ...string) string {
	for _, k := range keys {
		if s, ok := c[k].(string); ok && s != "" {
			return s
		}
	}
	return ""
}

func numClaim(c map[string]any, k string) (time.Time, bool) {
	f, ok := c[k].(float64)
	if !ok {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// isEntraTokenLike: an Entra token carries tid and ver.
func isEntraTokenLike(c map[string]any) bool {
	_, tid := c["tid"]
	_, ver := c["ver"]
	return tid && ver
}

func audForm(a string) string {
	if isGUID(a) {
		return "its client id, the v2 form"
	}
	return "its App ID URI, the v1 form"
}

func anyPrefix(ss []string, p string) bool {
	return slices.ContainsFunc(ss, func(s string) bool { return strings.HasPrefix(s, p) })
}

func anyGUID(ss []string) bool { return slices.ContainsFunc(ss, isGUID) }

func sameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Host != "" && strings.EqualFold(ua.Host, ub.Host)
}

func roundAgo(d time.Duration) time.Duration {
	if d < 0 {
		d = -d
	}
	if d > time.Minute {
		return d.Round(time.Minute)
	}
	return d.Round(time.Second)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func decodeJSON(b []byte, v any) error { return json.Unmarshal(b, v) }
