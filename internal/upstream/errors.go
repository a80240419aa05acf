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
	// Required: the administrator requires the user to link this connection, so the
	// prompt is not deferred to the calls that need it (see DeferCredential).
	Required bool
}

func (e *NeedsUserAction) Error() string {
	return fmt.Sprintf("%s: %s (open %s)", e.Reason, e.Message, e.URL)
}

// ConsentRequired means the identity provider refused because consent for the downstream
// API was never granted (Entra AADSTS65001, suberror consent_required). OBO cannot prompt,
// so consent must exist beforehand: an administrator grants it, the downstream API
// pre-authorizes mcpgate's app, or the user consents once through knownClientApplications.
type ConsentRequired struct {
	// App is the middle-tier client id that lacks consent.
	App string
	// AppName is the application's display name, as Entra names it in its description
	// ("…the application with ID '…' named 'mcpgate'"); empty when unknown.
	AppName string
	// Scope is the requested downstream scope.
	Scope string
	// Codes are the IdP's error codes (AADSTS numbers), for diagnostics.
	Codes []int
	// TraceID and CorrelationID are Entra's ids of the failed request, which its support
	// and the sign-in logs (Entra ID > Sign-in logs) are searched by.
	TraceID, CorrelationID string
	// Description is the IdP's error_description (secrets scrubbed).
	Description string
}

// ConsentCode is the AADSTS code of a consent failure: the first of Codes, else 65001.
func (e *ConsentRequired) ConsentCode() string {
	if len(e.Codes) > 0 {
		return fmt.Sprintf("AADSTS%d", e.Codes[0])
	}
	return "AADSTS65001"
}

// appLabel is "name (id)", or the id alone.
func (e *ConsentRequired) appLabel() string {
	if e.AppName != "" {
		return fmt.Sprintf("%q (%s)", e.AppName, e.App)
	}
	return e.App
}

// Fixes lists every change that makes the exchange work, in the order an administrator
// would try them. Each is enough on its own.
func (e *ConsentRequired) Fixes() []string {
	name := e.AppName
	if name == "" {
		name = e.App
	}
	api := e.Scope
	if i := strings.LastIndex(api, "/"); i > 0 {
		api = api[:i]
	}
	return []string{
		fmt.Sprintf("admin consent: an administrator grants consent to %s for %s (Entra ID > Enterprise applications > %s > Permissions > Grant admin consent, or App registrations > %s > API permissions > Grant admin consent)", name, e.Scope, name, name),
		fmt.Sprintf("pre-authorize mcpgate on the API: in the registration of %s, Expose an API > Authorized client applications > add %s for the scope", api, e.App),
		fmt.Sprintf("user consent through knownClientApplications: add the MCP client's app id to knownClientApplications in the manifest of %s, and have the client ask for %s/.default at sign-in, so that one consent covers the client, mcpgate and the API", name, e.App),
	}
}

func (e *ConsentRequired) Error() string {
	return fmt.Sprintf("consent_required (%s): app %s has no consent for scope %s%s; fixes: %s", e.ConsentCode(), e.appLabel(), e.Scope, e.ids(), strings.Join(e.Fixes(), "; "))
}

// ids renders the trace and correlation ids, if any.
func (e *ConsentRequired) ids() string {
	var b strings.Builder
	if e.TraceID != "" {
		fmt.Fprintf(&b, ", trace id %s", e.TraceID)
	}
	if e.CorrelationID != "" {
		fmt.Fprintf(&b, ", correlation id %s", e.CorrelationID)
	}
	return b.String()
}

// Message is the user-facing sentence.
func (e *ConsentRequired) Message() string {
	return fmt.Sprintf("%s: consent is missing for app %s scope %s%s; ask an administrator to fix it (%s)", e.ConsentCode(), e.appLabel(), e.Scope, e.ids(), strings.Join(e.Fixes(), "; "))
}

// entraAppName finds the display name in Entra's consent description ("… the application
// with ID '<id>' named '<name>' …").
func entraAppName(desc string) string {
	const marker = " named '"
	i := strings.Index(desc, marker)
	if i < 0 {
		return ""
	}
	rest := desc[i+len(marker):]
	j := strings.Index(rest, "'")
	if j <= 0 || j > 256 {
		return ""
	}
	return rest[:j]
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
	// ReasonNotOffered: the connection is offered to some groups only, and the user is in
	// none of them.
	ReasonNotOffered = "not_offered"
	ReasonStore      = "store" // the connection store failed (transient)
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
	// Explanation says what the first known AADSTS code of Codes means and what to change
	// ("AADSTS65005: … . …"), from internal/aadsts; empty when none is known.
	Explanation string
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
	if e.Explanation != "" {
		b.WriteString(" — " + e.Explanation)
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
