package upstream

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/mcpgate/mcpgate/internal/mcp"
)

// outcome kinds.
const (
	outcomeUserAction         = "user_action"         // send the user to URL (URL elicitation -32042 / tool error)
	outcomeConsentRequired    = "consent_required"    // an administrator must grant consent
	outcomeInsufficientClaims = "insufficient_claims" // 401 with a claims challenge
	outcomeFailure            = "failure"             // upstream credential failure (502/503)
)

// outcome says how the gateway should answer the MCP client when a provider fails. Every
// field is safe to show the client (no secrets).
type outcome struct {
	Kind string
	// Reason is the stable code for audit and logs.
	Reason string
	// HTTPStatus for the response when the failure is not carried inside a JSON-RPC
	// result: 200 for user actions (JSON-RPC error or tool error), 401 for claims
	// challenges, 403 for missing consent, 502 for permanent and 503 for transient
	// failures.
	HTTPStatus int
	// Message is one sentence for the user: what happened and what to do.
	Message string
	// URL is the page the user must open (user actions).
	URL string
	// ElicitationID is a stable id for the URL elicitation (same connection, same id).
	ElicitationID string
	// Claims is the raw claims challenge (insufficient_claims).
	Claims string
	// Retryable: the same call may succeed later without user action.
	Retryable bool
}

// explain maps a provider error to what the client should see.
func explain(route string, err error) outcome {
	var (
		nua *NeedsUserAction
		cr  *ConsentRequired
		cc  *ClaimsChallenge
		f   *Failure
	)
	switch {
	case errors.As(err, &nua):
		sum := sha256.Sum256([]byte(nua.Provider + "|" + nua.Reason + "|" + nua.URL))
		return outcome{Kind: outcomeUserAction, Reason: nua.Reason, HTTPStatus: http.StatusOK, URL: nua.URL,
			ElicitationID: "mcpgate-" + hex.EncodeToString(sum[:8]),
			Message:       fmt.Sprintf("%s. Open %s, then retry.", capitalize(nua.Message), nua.URL)}
	case errors.As(err, &cr):
		return outcome{Kind: outcomeConsentRequired, Reason: "consent_required", HTTPStatus: http.StatusForbidden,
			Message: fmt.Sprintf("Route %s: %s: consent is missing for app %s scope %s%s. Signing in again will not help (On-Behalf-Of cannot ask for consent); any one of these fixes it: %s.",
				route, cr.ConsentCode(), cr.appLabel(), cr.Scope, cr.ids(), strings.Join(cr.Fixes(), "; "))}
	case errors.As(err, &cc):
		return outcome{Kind: outcomeInsufficientClaims, Reason: "interaction_required", HTTPStatus: http.StatusUnauthorized, Claims: cc.Claims,
			Message: fmt.Sprintf("Route %s: your organisation requires additional sign-in (for example multi-factor authentication) for this tool. Sign in again.", route)}
	case errors.As(err, &f):
		o := outcome{Kind: outcomeFailure, Reason: f.Reason, HTTPStatus: http.StatusBadGateway, Retryable: !f.Permanent}
		if !f.Permanent {
			o.HTTPStatus = http.StatusServiceUnavailable
		}
		switch f.Reason {
		case ReasonIdPUnreachable, ReasonIdPError:
			o.Message = fmt.Sprintf("Route %s: the identity provider that issues the upstream credential is unavailable (%s). Try again shortly.", route, f.Reason)
		case ReasonExchangeRefused:
			o.Message = fmt.Sprintf("Route %s: the identity provider refused to issue an upstream credential for your token (%s). Sign in again; if it persists, tell your administrator.", route, f.IdPError)
		case ReasonNoUpstreamIdentity, ReasonNotOffered:
			o.HTTPStatus = http.StatusForbidden
			o.Message = fmt.Sprintf("Route %s: %s.", route, f.Description)
		case ReasonNoCallerToken, ReasonNoPrincipal:
			o.HTTPStatus = http.StatusUnauthorized
			o.Message = fmt.Sprintf("Route %s: this tool acts as you, so you must be signed in.", route)
		default:
			o.Message = fmt.Sprintf("Route %s: mcpgate could not obtain the upstream credential (%s); this is a configuration problem, tell your administrator.", route, f.Reason)
		}
		if f.Explanation != "" && f.Reason != ReasonIdPUnreachable {
			o.Message += " " + f.Explanation
		}
		return o
	}
	return outcome{Kind: outcomeFailure, Reason: "internal", HTTPStatus: http.StatusBadGateway,
		Message: fmt.Sprintf("Route %s: mcpgate could not obtain the upstream credential; see the gateway log.", route)}
}

// JSONRPCError returns the JSON-RPC error object for a user action, for clients that
// support URL elicitation (MCP 2025-11-25): code -32042 with data.elicitations.
func (o outcome) JSONRPCError() map[string]any {
	return map[string]any{
		"code":    mcp.CodeURLElicitationRequired,
		"message": o.Message,
		"data": map[string]any{"elicitations": []any{map[string]any{
			"mode": "url", "elicitationId": o.ElicitationID, "url": o.URL, "message": o.Message,
		}}},
	}
}

// ToolError returns a tools/call result carrying the message (isError), for clients
// without URL elicitation; the URL is in the text so the user can open it.
func (o outcome) ToolError() map[string]any {
	return map[string]any{"isError": true, "content": []any{map[string]any{"type": "text", "text": o.Message}}}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
