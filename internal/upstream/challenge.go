package upstream

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/mcpgate/mcpgate/internal/authn"
)

// Challenger is an optional ability of a Provider: told that the upstream refused the
// credential it gave (HTTP 401 or 403 with a WWW-Authenticate challenge), it returns the
// error to answer the caller with, typically a *NeedsUserAction asking the user to
// connect again (with the scopes the upstream asked for), or nil when it has nothing
// better than the upstream's refusal.
type Challenger interface {
	Challenge(ctx context.Context, req Request, status int, wwwAuthenticate string) error
}

// BearerChallenge is the parsed Bearer challenge of a WWW-Authenticate header (RFC 6750
// §3, RFC 9728 §5.1).
type BearerChallenge struct {
	Error            string
	ErrorDescription string
	Scope            string
	ResourceMetadata string
}

// maxChallengeBytes bounds the header a challenge is parsed from.
const maxChallengeBytes = 4096

// ParseBearerChallenge finds the Bearer challenge in a WWW-Authenticate header value
// (which may hold several challenges) and reads its parameters; ok is false when there is
// none. Unknown parameters are ignored, and values longer than the header bound are cut.
func ParseBearerChallenge(h string) (BearerChallenge, bool) {
	if len(h) > maxChallengeBytes {
		h = h[:maxChallengeBytes]
	}
	var c BearerChallenge
	found := false
	i := 0
	for i < len(h) {
		// A scheme token starts a challenge; parameters follow until the next scheme.
		i = skipWS(h, i)
		j := i
		for j < len(h) && isTokenChar(h[j]) {
			j++
		}
		if j == i {
			i++ // stray character: skip it
			continue
		}
		name := h[i:j]
		k := skipWS(h, j)
		if k < len(h) && h[k] == '=' && !(k+1 < len(h) && h[k+1] == '=') {
			// auth-param name=value
			k = skipWS(h, k+1)
			val, next := readValue(h, k)
			if found {
				switch strings.ToLower(name) {
				case "error":
					c.Error = val
				case "error_description":
					c.ErrorDescription = val
				case "scope":
					c.Scope = val
				case "resource_metadata":
					c.ResourceMetadata = val
				}
			}
			i = skipWS(h, next)
			if i < len(h) && h[i] == ',' {
				i++
			}
			continue
		}
		// A scheme name: Bearer starts ours; another ends it.
		if found {
			return c, true
		}
		found = strings.EqualFold(name, "bearer")
		i = k
		if i < len(h) && h[i] == ',' {
			i++
		}
	}
	return c, found
}

func skipWS(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	return i
}

func isTokenChar(b byte) bool {
	return b > 0x20 && b < 0x7f && !strings.ContainsRune("()<>@,;:\\\"/[]?={} ", rune(b))
}

// readValue reads a token or a quoted string at i; it returns the value and where it
// ended.
func readValue(s string, i int) (string, int) {
	if i < len(s) && s[i] == '"' {
		var b strings.Builder
		i++
		for i < len(s) {
			switch s[i] {
			case '\\':
				if i+1 < len(s) {
					b.WriteByte(s[i+1])
					i += 2
					continue
				}
				i++
			case '"':
				return b.String(), i + 1
			default:
				b.WriteByte(s[i])
				i++
			}
		}
		return b.String(), i
	}
	j := i
	for j < len(s) && s[j] != ',' && s[j] != ' ' && s[j] != '\t' {
		j++
	}
	return s[i:j], j
}

// Challenge implements Challenger for a connection: the upstream refused the user's
// linked token (401: revoked or expired early; 403 insufficient_scope: it needs more
// scopes), so the user is asked to connect again, with the scopes the upstream named.
func (p connectionProvider) Challenge(ctx context.Context, req Request, status int, wwwAuthenticate string) error {
	if status != http.StatusUnauthorized && status != http.StatusForbidden {
		return nil
	}
	sub := req.subject()
	if sub == "" {
		return nil
	}
	bc, ok := ParseBearerChallenge(wwwAuthenticate)
	if !ok {
		return nil
	}
	a := p.a
	cs := p.cs
	var nua *NeedsUserAction
	switch {
	case bc.Error == "insufficient_scope" || (status == http.StatusForbidden && bc.Scope != ""):
		scopes := extraScopes(bc.Scope)
		nua = cs.needsAction(a, "insufficient_scope",
			fmt.Sprintf("%s needs more access (%s) than your connection grants; connect your %s account again to grant it", a.display(), strings.Join(scopes, " "), a.display()))
		if len(scopes) > 0 {
			nua.URL = addQuery(nua.URL, "scope", strings.Join(scopes, " "))
		}
	case status == http.StatusUnauthorized:
		nua = cs.needsAction(a, "connection_refused",
			fmt.Sprintf("%s refused your connection (it may have been revoked); connect your %s account again", a.display(), a.display()))
	default:
		return nil
	}
	cs.log.InfoContext(ctx, "upstream challenged a connection token; asking the user to reconnect", "provider", a.Name, "subject", sub,
		"status", status, "error", clipped(bc.Error), "scope", clipped(bc.Scope))
	if r := safeReturn(req.ReturnURL); r != "" {
		nua.URL = addQuery(nua.URL, "return", r)
	}
	return nua
}

// UpstreamChallenge tells the route's provider, when it is a Challenger, that the
// upstream refused its credential for the caller; see Challenger.
func (rc RouteCredentials) UpstreamChallenge(ctx context.Context, p *authn.Principal, r *http.Request, status int, wwwAuthenticate string) error {
	ch, ok := rc.Provider.(Challenger)
	if !ok {
		return nil
	}
	req := Request{Principal: p, Route: rc.Route}
	if rc.ReturnURL != nil {
		req.ReturnURL = rc.ReturnURL(r)
	}
	return ch.Challenge(ctx, req, status, wwwAuthenticate)
}
