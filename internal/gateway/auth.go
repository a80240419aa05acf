package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/mcp"
)

// challenge writes a 401/403/400 with a WWW-Authenticate Bearer challenge (RFC 6750 §3,
// RFC 9728 §5.1) and a JSON body saying what is wrong.
func (rt *route) challenge(w http.ResponseWriter, rec *Event, base string, status int, code, desc string, scopes []string) {
	md := rt.metadataURL(base)
	var b strings.Builder
	b.WriteString(`Bearer resource_metadata=`)
	b.WriteString(quoteParam(md))
	if len(scopes) > 0 {
		b.WriteString(", scope=")
		b.WriteString(quoteParam(strings.Join(scopes, " ")))
	}
	if code != "" {
		b.WriteString(", error=")
		b.WriteString(quoteParam(code))
		if desc != "" {
			b.WriteString(", error_description=")
			b.WriteString(quoteParam(desc))
		}
	}
	w.Header().Set("WWW-Authenticate", b.String())
	body := map[string]any{
		"error":             code,
		"error_description": desc,
		"resource_metadata": md,
	}
	if code == "" {
		body["error"] = "unauthorized"
	}
	if len(scopes) > 0 {
		body["scope"] = strings.Join(scopes, " ")
	}
	rec.Status = status
	if rec.Decision == "" {
		rec.Decision = "unauthenticated"
		if status == http.StatusForbidden {
			rec.Decision = "insufficient_scope"
		}
	}
	if rec.Error == "" {
		rec.Error = desc
	}
	writeJSON(w, status, body)
}

// authenticate applies the route's mode. It returns the principal (nil = anonymous) and
// false when it has already answered the request.
func (rt *route) authenticate(w http.ResponseWriter, r *http.Request, rec *Event, base string) (*authn.Principal, bool) {
	o := &rt.opts
	if r.URL.RawQuery != "" && r.URL.Query().Has("access_token") { // (also access%5Ftoken)
		rt.challenge(w, rec, base, http.StatusBadRequest, authn.CodeInvalidRequest,
			"access tokens are accepted only in the Authorization: Bearer header, never in the URL query (URLs end up in logs and browser history); remove access_token from the URL", nil)
		rec.Decision = "invalid_request"
		return nil, false
	}
	if len(r.Header.Values("Authorization")) > 1 {
		rt.challenge(w, rec, base, http.StatusBadRequest, authn.CodeInvalidRequest, "send exactly one Authorization header", nil)
		rec.Decision = "invalid_request"
		return nil, false
	}
	tok, has := authn.BearerToken(r.Header.Get("Authorization"))
	if !has {
		rec.Token = "missing"
		if o.Mode == ModeStrict {
			desc := "route " + quoteName(o.Name) + " requires a bearer token in the Authorization header; sign in with the authorization server named in the resource metadata"
			if r.Header.Get("Authorization") != "" {
				desc = "route " + quoteName(o.Name) + " accepts only Bearer tokens in the Authorization header"
			}
			rt.challenge(w, rec, base, http.StatusUnauthorized, "", desc, o.RequestScopes)
			return nil, false
		}
		return nil, true
	}
	if o.Verifier == nil { // permissive route without a verifier
		return nil, true
	}
	p, err := o.Verifier.Verify(r.Context(), tok)
	if err != nil {
		var ae *authn.Error
		isRejection := errors.As(err, &ae)
		rec.Token = "error"
		if isRejection {
			rec.Token, rec.TokenReason = "rejected", ae.Reason
		}
		if o.Mode == ModePermissive {
			reason := "error"
			if isRejection {
				reason = ae.Reason
			}
			rt.s.log.DebugContext(r.Context(), "permissive route: token not accepted, continuing anonymously", "route", o.Name, "reason", reason)
			rec.Reasons = append(rec.Reasons, "token-ignored:"+reason)
			return nil, true
		}
		if !isRejection {
			// The cause is in the log; the client learns which kind of outage it is
			// without internals (addresses, store details).
			rt.s.log.ErrorContext(r.Context(), "token verification failed", "route", o.Name, "err", err)
			rec.Decision = "verifier_error"
			cause := "the token's issuer is unavailable"
			switch {
			case errors.Is(err, authn.ErrStoreUnavailable):
				cause = "the authorization server's store is unavailable"
			case errors.Is(err, authn.ErrKeysUnavailable):
				cause = "the issuer's keys are unavailable"
			}
			rt.jsonrpcError(w, rec, http.StatusServiceUnavailable, nil, "verifier_unavailable",
				"route "+quoteName(o.Name)+": the token could not be checked right now ("+cause+"); retry later")
			return nil, false
		}
		if ae.Reason != "" {
			rec.Reasons = append(rec.Reasons, ae.Reason)
		}
		desc := ae.Description
		if desc == "" {
			desc = "the access token was rejected"
		}
		switch ae.Code {
		case authn.CodeInsufficientScope:
			rt.challenge(w, rec, base, http.StatusForbidden, authn.CodeInsufficientScope, desc, o.RequestScopes)
		case authn.CodeInvalidRequest:
			rt.challenge(w, rec, base, http.StatusBadRequest, authn.CodeInvalidRequest, desc, nil)
		default:
			rt.challenge(w, rec, base, http.StatusUnauthorized, authn.CodeInvalidToken, desc, o.RequestScopes)
		}
		return nil, false
	}
	rec.Token = "valid"
	if missing := p.MissingScopes(o.Scopes); len(missing) > 0 && o.Mode != ModePermissive {
		rec.Principal = p
		rt.challenge(w, rec, base, http.StatusForbidden, authn.CodeInsufficientScope,
			"the token lacks the scope(s) "+strings.Join(missing, ", ")+" required by route "+quoteName(o.Name)+"; sign in again granting them",
			unionScopes(o.RequestScopes, qualified(o.ScopePrefix, p.Scopes)))
		return nil, false
	}
	return p, true
}

// unionScopes returns want followed by the granted scopes not already in it, so that a
// re-authorization keeps what the client already has.
func unionScopes(want, granted []string) []string {
	out := slices.Clone(want)
	for _, g := range granted {
		if g != "" && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	return out
}

// qualified returns the granted scopes as a client must request them again: each bare
// name prefixed (Entra), or unchanged without a prefix.
func qualified(prefix string, granted []string) []string {
	if prefix == "" {
		return granted
	}
	out := make([]string, 0, len(granted))
	for _, g := range granted {
		out = append(out, authn.QualifyEntraScope(prefix, g))
	}
	return out
}

// jsonrpcError writes an HTTP error whose body is a JSON-RPC error response, with a
// machine-readable reason and the route's name in error.data.
func (rt *route) jsonrpcError(w http.ResponseWriter, rec *Event, status int, id json.RawMessage, reason, msg string) {
	rt.jsonrpcErrorCode(w, rec, status, id, reason, 0, msg)
}

// jsonrpcErrorCode is jsonrpcError with a JSON-RPC error code (0: the one for status).
func (rt *route) jsonrpcErrorCode(w http.ResponseWriter, rec *Event, status int, id json.RawMessage, reason string, code int, msg string) {
	rec.Status = status
	if rec.Error == "" {
		rec.Error = msg
	}
	if rec.Decision == "" {
		rec.Decision = reason
	}
	switch {
	case code != 0:
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		code = mcp.CodeUnauthorized
	case status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge:
		code = mcp.CodeInvalidRequest
	default:
		code = mcp.CodeServerError
	}
	writeRaw(w, status, mcp.ErrorResponse(id, code, msg, map[string]string{"route": rt.opts.Name, "reason": reason}))
}

func quoteName(s string) string { return strconv.Quote(s) }
