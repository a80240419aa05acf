package authserver

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/mcpgate/mcpgate/internal/clip"
)

// CanonicalResource returns the canonical form of an RFC 8707 resource indicator:
// absolute http(s) URL, lower-case scheme and host, no fragment, no trailing slash,
// default ports removed.
func CanonicalResource(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "", fmt.Errorf("resource %q is not an absolute URL", clip.String(raw))
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if u.Scheme != "https" && u.Scheme != "http" {
		return "", fmt.Errorf("resource %q must be an http or https URL", clip.String(raw))
	}
	if u.User != nil {
		return "", fmt.Errorf("resource %q must not contain user information", clip.String(raw))
	}
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if (u.Scheme == "https" && port == "443") || (u.Scheme == "http" && port == "80") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	u.Host = host
	u.Fragment, u.RawFragment = "", ""
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u.String(), nil
}

// errInvalidTarget is RFC 8707's invalid_target.
func errInvalidTarget(format string, args ...any) *oidc.Error {
	return &oidc.Error{ErrorType: "invalid_target", Description: fmt.Sprintf(format, args...)}
}

// resolveResources canonicalises requested resources and checks that each is served.
func (s *Server) resolveResources(requested []string) ([]string, *oidc.Error) {
	if len(requested) == 0 {
		return nil, nil
	}
	served := s.servedResources()
	out := make([]string, 0, len(requested))
	for _, r := range requested {
		if strings.HasPrefix(strings.ToLower(strings.TrimSpace(r)), "api://") {
			// The Power Apps / Entra habit: a custom connector's "Resource URL" is the API
			// app's App ID URI. mcpgate's tokens are for MCP server URLs (RFC 8707).
			example := "the MCP server URL from the protected resource metadata"
			if len(served) > 0 {
				example = served[0]
			}
			return nil, errInvalidTarget("resource %s is an Entra App ID URI (a connector's \"Resource URL\" as for Entra ID); mcpgate's authorization server issues tokens for MCP server URLs: set the Resource URL to %s, or leave it empty when the connector reaches one route", clip.String(r), example)
		}
		c, err := CanonicalResource(r)
		if err != nil {
			return nil, errInvalidTarget("%s; send the MCP server URL, for example https://gateway.example.com/mcp", err)
		}
		if !slices.Contains(served, c) {
			return nil, errInvalidTarget("resource %s is not served by this gateway; use the resource URL from the protected resource metadata", clip.String(c))
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *Server) servedResources() []string {
	if s.opts.Resources == nil {
		return nil
	}
	var out []string
	for _, r := range s.opts.Resources() {
		if c, err := CanonicalResource(r); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// defaultAudience is used when a request names no resource: the only served resource,
// if there is exactly one.
func (s *Server) defaultAudience() []string {
	served := s.servedResources()
	if len(served) == 1 {
		return served
	}
	return nil
}

type requestParamsKey struct{}

// requestParams are the raw form parameters op does not parse (resource) captured by the
// capture middleware.
type requestParams struct {
	resources []string
	remoteIP  string
	// note receives the description of an error that op may wrap (and so drop); the
	// token endpoint puts it back into the response.
	note *string
	// internal receives the description internalError gave a client, so that the
	// response is a server_error even where op wraps the error in another (it answers
	// invalid_grant for any error loading a code or refresh token, which would tell the
	// client to throw away a token that is still good).
	internal *string
}

// noteError remembers why a request is being refused, for the response.
func noteError(ctx context.Context, desc string) {
	if p := paramsFrom(ctx); p.note != nil && *p.note == "" {
		*p.note = desc
	}
}

func paramsFrom(ctx context.Context) requestParams {
	p, _ := ctx.Value(requestParamsKey{}).(requestParams)
	return p
}

// captureParams parses the form of protocol endpoints and keeps the parameters op ignores.
func (s *Server) captureParams(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case PathAuthorize, PathToken, PathDeviceAuthorization:
			if err := r.ParseForm(); err != nil {
				writeBodyError(w, err)
				return
			}
			if r.URL.Path == PathAuthorize && strings.Contains(r.Form.Get("redirect_uri"), "#") {
				// RFC 6749 §3.1.2: the redirection endpoint URI must not include a fragment.
				// op compares loopback redirect URIs by path and query only, so without this
				// check http://127.0.0.1:PORT/cb#x would match a registered .../cb. The URI
				// is not trusted: answer here instead of redirecting to it.
				s.log.InfoContext(r.Context(), "authorization request refused", "reason", "redirect_uri has a fragment",
					"client_id", clip.String(r.Form.Get("client_id")), "redirect_uri", clip.String(r.Form.Get("redirect_uri")))
				writeOAuthError(w, http.StatusBadRequest, "invalid_request", "redirect_uri must not contain a fragment (RFC 6749 §3.1.2)")
				return
			}
			if r.URL.Path == PathAuthorize && strings.TrimSpace(r.Form.Get("scope")) == "" {
				// MCP clients leave out scope when the resource advertises none; op
				// requires one. openid asks for nothing beyond signing in.
				r.Form.Set("scope", "openid")
			}
			p := requestParams{resources: r.Form["resource"], remoteIP: clientIP(r), note: new(string), internal: new(string)}
			r = r.WithContext(context.WithValue(r.Context(), requestParamsKey{}, p))
		}
		next.ServeHTTP(w, r)
	})
}

func base64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
