package upstream

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// NeedsUserAction means the user must do something in a browser before the call can work:
// link a missing connection or repair a broken one. The gateway turns it into a URL
// elicitation (JSON-RPC -32042 with URL) for clients that support it, or a tool error
// carrying the URL. Retrying after the user finishes succeeds without a further prompt.
type NeedsUserAction struct {
	// Provider is the connection provider name (for example "github").
	Provider string
	// URL is the page the user must open (the connect page).
	URL string
	// Reason is a stable code: connection_missing or connection_broken.
	Reason string
	// Message is a sentence for the user.
	Message string
}

func (e *NeedsUserAction) Error() string {
	return fmt.Sprintf("%s: %s (open %s)", e.Reason, e.Message, e.URL)
}

// ConsentRequired means the identity provider refused because consent for the downstream
// API was never granted (Entra AADSTS65001, suberror consent_required). OBO cannot prompt,
// so an administrator must grant consent for App and Scope.
type ConsentRequired struct {
	// App is the middle-tier client id that lacks consent.
	App string
	// Scope is the requested downstream scope.
	Scope string
	// Codes are the IdP's error codes (AADSTS numbers), for diagnostics.
	Codes []int
}

func (e *ConsentRequired) Error() string {
	return fmt.Sprintf("consent_required: admin consent is missing for app %s scope %s: an administrator must grant consent (Entra: Enterprise applications > %s > Permissions > Grant admin consent)", e.App, e.Scope, e.App)
}

// Message is the user-facing sentence.
func (e *ConsentRequired) Message() string {
	return fmt.Sprintf("admin consent is missing for app %s scope %s; ask an administrator to grant it", e.App, e.Scope)
}

// ClaimsChallenge means the IdP requires more interaction (Entra interaction_required:
// Conditional Access, MFA). The gateway answers the MCP client with 401 and a
// WWW-Authenticate insufficient_claims challenge carrying Claims; the result must not be
// served from a cache.
type ClaimsChallenge struct {
	// Claims is the claims request JSON as the IdP sent it.
	Claims string
	// Codes are the IdP's error codes.
	Codes []int
}

func (e *ClaimsChallenge) Error() string {
	return "interaction_required: the identity provider requires additional sign-in (claims challenge); sign in again to satisfy it"
}

// WWWAuthenticate renders the RFC 6750 challenge header value the gateway returns with a
// 401, per Entra's claims challenge convention.
func (e *ClaimsChallenge) WWWAuthenticate(authorizationURI string) string {
	return fmt.Sprintf(`Bearer realm="", authorization_uri=%q, error="insufficient_claims", claims=%q`,
		authorizationURI, base64.StdEncoding.EncodeToString([]byte(e.Claims)))
}

// Stable failure reason codes (audit and logs).
const (
	ReasonIdPUnreachable     = "idp_unreachable"     // network error talking to the token endpoint (transient)
	ReasonIdPError           = "idp_error"           // the token endpoint answered 5xx / temporarily_unavailable (transient)
	ReasonExchangeRefused    = "exchange_refused"    // invalid_grant and similar: the IdP refused this subject token (permanent)
	ReasonInvalidClient      = "invalid_client"      // mcpgate's client credentials were refused (permanent, config)
	ReasonUnauthorizedClient = "unauthorized_client" // the client may not use this grant (permanent, config)
	ReasonInvalidScope       = "invalid_scope"       // scope refused (permanent, config)
	ReasonInvalidTarget      = "invalid_target"      // audience/resource refused (permanent, config)
	ReasonInvalidRequest     = "invalid_request"     // the IdP says the request is malformed (permanent)
	ReasonInvalidResponse    = "invalid_response"    // the IdP's answer is unusable (permanent when a 2xx answer has the wrong shape)
	ReasonNoCallerToken      = "no_caller_token"     // the mode needs the caller's token and there is none
	ReasonNoPrincipal        = "no_principal"        // the mode needs a signed-in user and there is none
	// ReasonNoUpstreamIdentity: the route acts as the user at an identity provider, and the
	// user signed in another way (a local account), so there is no token of theirs to present.
	ReasonNoUpstreamIdentity = "no_upstream_identity"
	ReasonConfig             = "config" // misconfiguration detected at call time
	ReasonStore              = "store"  // the connection store failed (transient)
)

// Failure is an upstream credential failure with a stable reason code. Description never
// contains a token or secret; it may contain the IdP's error code and description.
type Failure struct {
	Mode   string
	Reason string
	// Status is the IdP's HTTP status (0 if none was received).
	Status int
	// Permanent is true for 4xx-class refusals that retrying will not fix, false for
	// transient failures (network, 5xx) worth retrying later.
	Permanent bool
	// IdPError is the OAuth error code the IdP returned, if any (invalid_grant, ...).
	IdPError string
	// Codes are Entra AADSTS codes, if any.
	Codes       []int
	Description string
	Err         error
}

func (e *Failure) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "upstream credential (%s) failed: %s", e.Mode, e.Reason)
	if e.IdPError != "" {
		fmt.Fprintf(&b, " (IdP error %s", e.IdPError)
		if e.Status != 0 {
			fmt.Fprintf(&b, ", HTTP %d", e.Status)
		}
		b.WriteString(")")
	} else if e.Status != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.Status)
	}
	if e.Description != "" {
		b.WriteString(": " + e.Description)
	}
	return b.String()
}

func (e *Failure) Unwrap() error { return e.Err }

// Reason returns the stable reason code of any error a provider returns, for audit.
func Reason(err error) string {
	var (
		nua *NeedsUserAction
		cr  *ConsentRequired
		cc  *ClaimsChallenge
		f   *Failure
	)
	switch {
	case err == nil:
		return ""
	case errors.As(err, &nua):
		return nua.Reason
	case errors.As(err, &cr):
		return "consent_required"
	case errors.As(err, &cc):
		return "interaction_required"
	case errors.As(err, &f):
		return f.Reason
	}
	return "internal"
}
