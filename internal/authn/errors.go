package authn

import (
	"errors"
	"strings"
	"time"
)

// Stable rejection reasons (Error.Reason), for logs, audit and tests. docs/authn.md explains
// each one and its fix.
const (
	ReasonMissing           = "missing_token"       // no token at all
	ReasonMalformed         = "malformed"           // not a JWT, or a claim of the wrong type
	ReasonAlgNotAllowed     = "alg_not_allowed"     // alg none, HMAC, or not on the issuer's list
	ReasonBadSignature      = "bad_signature"       // the signature does not verify
	ReasonUnknownKID        = "unknown_kid"         // the issuer does not publish the token's key
	ReasonExpired           = "expired"             // exp is past (beyond the clock skew)
	ReasonNotYetValid       = "not_yet_valid"       // nbf or iat is in the future (beyond the clock skew)
	ReasonWrongIssuer       = "wrong_issuer"        // iss is not an accepted issuer
	ReasonWrongAudience     = "wrong_audience"      // no aud value is accepted here
	ReasonMissingClaim      = "missing_claim"       // exp or a required claim is absent
	ReasonTenantNotAllowed  = "tenant_not_allowed"  // Entra tid not on the allow-list
	ReasonKeyIssuerMismatch = "key_issuer_mismatch" // Entra key's issuer member is another tenant's
	ReasonVersionNotAllowed = "version_not_allowed" // Entra token version not in entra.versions
	ReasonVersionMismatch   = "version_mismatch"    // Entra ver claim disagrees with the iss form
)

// ErrKeysUnavailable marks a technical failure: the issuer's keys could not be loaded
// (IdP unreachable, bad JWKS) and none are cached. It is not a rejection of the token;
// answer it with 503, not 401.
var ErrKeysUnavailable = errors.New("signing keys unavailable")

// ErrStoreUnavailable marks a technical failure of the embedded authorization server's
// store while checking a token (its signing keys could not be read): the token may be
// fine.
var ErrStoreUnavailable = errors.New("the authorization server's store is unavailable")

// clean makes a value taken from a token (iss, aud, kid, tid ...) safe to repeat in a
// description: printable ASCII without the quote and backslash that RFC 6750's
// error_description excludes, and at most 100 characters.
func clean(s string) string {
	const max = 100
	var b strings.Builder
	for i, r := range s {
		if i >= max {
			b.WriteString("...")
			break
		}
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			b.WriteByte('?')
			continue
		}
		b.WriteRune(r)
	}
	if b.Len() == 0 {
		return "(empty)"
	}
	return b.String()
}

func cleanList(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = clean(s)
	}
	if len(out) == 0 {
		return "(none)"
	}
	return strings.Join(out, ", ")
}

func roundDur(d time.Duration) time.Duration {
	if d < 0 {
		d = -d
	}
	return d.Round(time.Second)
}
