package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/mcp"
)

// RouteCredentials adapts a Provider to the gateway's consumer-side seam
// (gateway.UpstreamCredentials: UpstreamHeaders(ctx, principal, request)). It reads the
// caller's raw bearer token from the incoming request, for the modes that exchange it.
type RouteCredentials struct {
	Provider Provider
	Route    string
	// ReturnURL optionally computes where connect pages send the user back to.
	ReturnURL func(r *http.Request) string
	// Mode is the route's credential mode, for the observer.
	Mode string
	// Observer is told the outcome of each credential request (nil: nobody).
	Observer CredentialObserver
}

// CredentialObserver is told, for metrics, how each upstream credential was obtained:
// result is "ok" or the failure's Reason, cached whether it came from the exchanged-token
// cache.
type CredentialObserver interface {
	UpstreamCredential(route, mode, result string, cached bool)
}

// UpstreamHeaders implements gateway.UpstreamCredentials. Errors are this package's typed
// errors; the gateway renders them with explain.
func (rc RouteCredentials) UpstreamHeaders(ctx context.Context, p *authn.Principal, r *http.Request) (http.Header, error) {
	req := Request{Principal: p, Route: rc.Route, Token: bearerToken(r)}
	if rc.ReturnURL != nil {
		req.ReturnURL = rc.ReturnURL(r)
	}
	c, err := rc.Provider.Credential(ctx, req)
	if rc.Observer != nil {
		result := "ok"
		if err != nil {
			result = Reason(err)
		}
		rc.Observer.UpstreamCredential(rc.Route, rc.Mode, result, c.Cached)
	}
	if err != nil {
		return nil, err
	}
	return c.Header, nil
}

// bearerToken returns the bearer token of an incoming request ("" if none).
func bearerToken(r *http.Request) string {
	if r == nil {
		return ""
	}
	tok, _ := authn.BearerToken(r.Header.Get("Authorization"))
	return tok
}

// CredentialErrors wraps a route's upstream credential source so that the typed errors of
// this package are rendered for the MCP client (see docs/upstream.md, "What the user
// sees"): URL elicitation or a tool error for a missing connection, 403 for missing admin
// consent, 401 with a claims challenge, 502/503 for failures. authorizationURI is put in
// claims challenges (the IdP's authorize endpoint; derived from an obo route's token URL
// when empty). Nil stays nil.
func CredentialErrors(route string, c gateway.UpstreamCredentials, authorizationURI string) gateway.UpstreamCredentials {
	if c == nil {
		return nil
	}
	return credentialErrors{route: route, c: c, authorizationURI: authorizationURI}
}

// credentialErrors renders c's typed errors (CredentialErrors).
type credentialErrors struct {
	route            string
	c                gateway.UpstreamCredentials
	authorizationURI string
}

// UpstreamHeaders implements gateway.UpstreamCredentials.
func (ce credentialErrors) UpstreamHeaders(ctx context.Context, p *authn.Principal, r *http.Request) (http.Header, error) {
	h, err := ce.c.UpstreamHeaders(ctx, p, r)
	if err != nil {
		return nil, &credentialError{route: ce.route, err: err, authorizationURI: ce.authorizationURI}
	}
	return h, nil
}

// UpstreamChallenge passes an upstream's own 401/403 challenge to the wrapped source and
// renders what it answers like its other errors (a reconnect prompt becomes a URL
// elicitation); nil when the source has nothing to say.
func (ce credentialErrors) UpstreamChallenge(ctx context.Context, p *authn.Principal, r *http.Request, status int, wwwAuthenticate string) error {
	uc, ok := ce.c.(gateway.UpstreamChallenger)
	if !ok {
		return nil
	}
	if err := uc.UpstreamChallenge(ctx, p, r, status, wwwAuthenticate); err != nil {
		return &credentialError{route: ce.route, err: err, authorizationURI: ce.authorizationURI}
	}
	return nil
}

// urlElicitationVersion is the first MCP version with URL elicitation (-32042); from
// 2026-07-28 on (stateless) URL elicitation is an input request instead.
const urlElicitationVersion = "2025-11-25"

type credentialError struct {
	route            string
	err              error
	authorizationURI string
}

func (e *credentialError) Error() string { return e.err.Error() }
func (e *credentialError) Unwrap() error { return e.err }

// GatewayResponse implements gateway.CredentialError.
func (e *credentialError) GatewayResponse(c *gateway.Call) gateway.Response {
	o := explain(e.route, e.err)
	res := gateway.Response{Status: o.HTTPStatus, Reason: o.Reason, Message: o.Message}
	hasID := len(c.Messages) == 1 && len(c.Messages[0].ID) > 0
	data := map[string]any{"route": e.route, "reason": o.Reason}
	switch o.Kind {
	case outcomeUserAction:
		method := ""
		if len(c.Messages) == 1 {
			method = c.Messages[0].Method
		}
		version := c.ProtocolVersion()
		if hasID {
			res.Input = &gateway.URLInput{ID: o.ElicitationID, URL: o.URL, Message: o.Message}
		}
		switch {
		case !hasID:
			// A GET stream or a notification cannot carry an elicitation: refuse with the URL.
			res.Status = http.StatusForbidden
			data["url"] = o.URL
			res.Error = &mcp.ErrorObject{Code: mcp.CodeUnauthorized, Message: o.Message, Data: data}
		case version >= urlElicitationVersion && !mcp.Stateless(version): // YYYY-MM-DD versions order as strings
			// -32042 is 2025-11-25's alone; 2026-07-28 asks through an input-required
			// result (res.Input, rendered by the gateway), else as for older clients.
			je := o.JSONRPCError()
			res.Error = &mcp.ErrorObject{Code: je["code"].(int), Message: o.Message, Data: je["data"]}
		case method == "tools/call":
			res.Result = o.ToolError()
		default:
			data["url"] = o.URL
			res.Error = &mcp.ErrorObject{Code: mcp.CodeUnauthorized, Message: o.Message, Data: data}
		}
	case outcomeInsufficientClaims:
		var cc *ClaimsChallenge
		if errors.As(e.err, &cc) {
			res.Header = http.Header{"Www-Authenticate": {cc.WWWAuthenticate(e.authorizationURI)}}
		}
		res.Error = &mcp.ErrorObject{Code: mcp.CodeUnauthorized, Message: o.Message, Data: data}
	case outcomeConsentRequired:
		var cr *ConsentRequired
		if errors.As(e.err, &cr) {
			data["aadsts"], data["appId"], data["scope"], data["fixes"] = cr.ConsentCode(), cr.App, cr.Scope, cr.Fixes()
			if cr.AppName != "" {
				data["appName"] = cr.AppName
			}
			if cr.TraceID != "" {
				data["traceId"] = cr.TraceID
			}
			if cr.CorrelationID != "" {
				data["correlationId"] = cr.CorrelationID
			}
		}
		res.Error = &mcp.ErrorObject{Code: mcp.CodeUnauthorized, Message: o.Message, Data: data}
	default: // failures (401, 502, 503)
		code := mcp.CodeServerError
		if o.HTTPStatus == http.StatusUnauthorized || o.HTTPStatus == http.StatusForbidden {
			code = mcp.CodeUnauthorized
		}
		if o.Kind == outcomeFailure {
			data["retryable"] = o.Retryable
		}
		var f *Failure
		if errors.As(e.err, &f) && len(f.Codes) > 0 {
			data["aadsts"] = fmt.Sprintf("AADSTS%d", f.Codes[0])
		}
		res.Error = &mcp.ErrorObject{Code: code, Message: o.Message, Data: data}
	}
	return res
}

// DeferCredential implements gateway.CredentialDeferrer: an account not connected yet
// (connection routes) or consent not granted yet (On-Behalf-Of) does not stop a client from
// initializing and listing tools; only calls that use the upstream credential report it.
func (e *credentialError) DeferCredential() bool {
	var cr *ConsentRequired
	var nua *NeedsUserAction
	if errors.As(e.err, &nua) && nua.Required {
		return false // an administrator requires the link before anything else
	}
	return errors.As(e.err, &cr) || explain(e.route, e.err).Kind == outcomeUserAction
}

// RequiredLink reports whether the error asks the user to link a connection their
// administrator requires (NeedsUserAction.Required): an aggregating route then answers
// its lists with the prompt instead of leaving the upstream out.
func (e *credentialError) RequiredLink() bool {
	var nua *NeedsUserAction
	return errors.As(e.err, &nua) && nua.Required
}

// Interface guards
var (
	_ gateway.UpstreamChallenger = RouteCredentials{}
	_ gateway.UpstreamChallenger = credentialErrors{}
	_ gateway.CredentialError    = (*credentialError)(nil)
	_ gateway.CredentialDeferrer = (*credentialError)(nil)
)
