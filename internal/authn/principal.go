package authn

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"
)

// Principal is the verified identity behind a request.
type Principal struct {
	Subject  string
	Email    string
	Name     string
	Groups   []string
	Roles    []string
	Scopes   []string
	ClientID string
	Issuer   string
	Audience []string
	// TenantID is the Entra tenant (tid) when the issuer is an Entra issuer.
	TenantID  string
	ExpiresAt time.Time
	IssuedAt  time.Time
	// Claims holds every claim of the token, decoded from JSON.
	Claims map[string]any
	// TokenHash is the hex SHA-256 of the raw token: a stable, non-secret key for caches
	// and audit. The raw token is never stored in a Principal.
	TokenHash string
}

// MissingScopes returns the entries of want that are not among the principal's scopes
// (nil when none is missing).
func (p *Principal) MissingScopes(want []string) []string {
	var missing []string
	for _, w := range want {
		found := false
		for _, s := range p.Scopes {
			if s == w {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, w)
		}
	}
	return missing
}

// Verifier verifies a raw bearer token. A token that is not acceptable yields an *Error
// (so that callers can tell a rejection from a technical failure with errors.As); any other
// error is a technical failure (for example ErrKeysUnavailable) and should be answered with a
// 5xx, not a 401.
//
// The returned Principal may be shared between requests (a verified-token cache hands out the
// same value for the same token): treat it as read-only.
type Verifier interface {
	Verify(ctx context.Context, token string) (*Principal, error)
}

// VerifierFunc adapts a function to Verifier.
type VerifierFunc func(ctx context.Context, token string) (*Principal, error)

// Verify calls f.
func (f VerifierFunc) Verify(ctx context.Context, token string) (*Principal, error) {
	return f(ctx, token)
}

// Error is a token rejection. Code is the RFC 6750 error code (invalid_token,
// insufficient_scope, invalid_request); Description says what was wrong and how to fix it,
// without repeating the token. Reason is a stable machine-readable reason for logs and audit
// (for example "expired", "wrong_audience", "unknown_kid").
type Error struct {
	Code        string
	Reason      string
	Description string
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

// Rejection codes (RFC 6750 §3.1).
const (
	CodeInvalidToken      = "invalid_token"
	CodeInvalidRequest    = "invalid_request"
	CodeInsufficientScope = "insufficient_scope"
)

// Reject builds a rejection error.
func Reject(reason, format string, args ...any) *Error {
	return &Error{Code: CodeInvalidToken, Reason: reason, Description: sprintf(format, args...)}
}

// HashToken returns the hex SHA-256 of a raw token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal in ctx, or nil.
func PrincipalFrom(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// sprintf is fmt.Sprintf, except that a format without arguments is used as is.
func sprintf(format string, args ...any) string {
	if len(args) == 0 {
		return format
	}
	return fmt.Sprintf(format, args...)
}

// ClaimIDJAGIdP is the claim mcpgate's authorization server puts in access tokens it issued
// for an Identity Assertion JWT Authorization Grant: the name of the enterprise IdP (audit
// records it as the token's origin).
const ClaimIDJAGIdP = "idjag_idp"
