package gateway

import (
	"net/http"
	"net/netip"
	"net/url"
	"strings"
)

// What crosses the gateway in headers, both ways (docs/gateway.md, "Headers").
//
// Upstream requests: the client's headers except the hop-by-hop ones, Cookie, Forwarded
// and X-Forwarded-*, Authorization (unless passthrough), the configured identity headers,
// and every look-alike of these: a name that equals one of them once case, '-', '_' and
// '.' are ignored (X_User_Sub, x.forwarded.for). Servers built on CGI, Rack or WSGI fold
// '-' and '_' into the same HTTP_X_USER_SUB, so a look-alike would reach them as the
// identity the gateway set.
//
// Client responses: the upstream's headers except hop-by-hop ones, Access-Control-* (the
// gateway owns CORS), Set-Cookie (unless the route passes cookies, then scoped to its
// path), a Location that points at the upstream itself or another internal address, and
// the upstream's WWW-Authenticate (a 401 gets the gateway's own challenge).

// foldedReserved are, folded, the request headers no client may send upstream.
var foldedReserved = []string{
	"authorization", "proxyauthorization", "cookie", "forwarded", "xforwardedfor", "xforwardedhost",
	"xforwardedproto", "xforwardedport", "xforwardedprefix", "xrealip", "xclientip",
}

// reservedHeaders returns the folded names clients may not send: foldedReserved and the
// route's identity headers.
func reservedHeaders(identity []string) map[string]bool {
	m := make(map[string]bool, len(foldedReserved)+len(identity))
	for _, n := range foldedReserved {
		m[n] = true
	}
	for _, n := range identity {
		m[foldHeader(n)] = true
	}
	return m
}

// foldHeader lower-cases a header name and drops '-', '_' and '.'.
func foldHeader(name string) string {
	var buf [64]byte
	b := buf[:0]
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '-' || c == '_' || c == '.':
		case 'A' <= c && c <= 'Z':
			b = append(b, c+'a'-'A')
		default:
			b = append(b, c)
		}
	}
	return string(b)
}

// lookAlike reports whether a client header name folds to a reserved one. Canonical
// names without '_' or '.' are compared exactly elsewhere (notForwarded, identity): only
// the others need folding, which keeps the common path free of it.
func (rt *route) lookAlike(name string) bool {
	if strings.IndexByte(name, '_') < 0 && strings.IndexByte(name, '.') < 0 {
		return false
	}
	return rt.reserved[foldHeader(name)]
}

// responseHeader copies the upstream response's header into the client's, minus what
// must not reach the client (see the top of this file).
func (rt *route) responseHeader(dst http.Header, resp *http.Response, rec *Event, base string) {
	for k, vs := range resp.Header {
		switch {
		case strings.HasPrefix(k, "Access-Control-"):
			continue // the gateway owns CORS
		case k == "Set-Cookie":
			if vs = rt.upstreamCookies(vs); len(vs) == 0 {
				rec.Reasons = append(rec.Reasons, "upstream_cookie_dropped")
				continue
			}
		case k == "Location":
			loc, ok := rt.publicLocation(vs[0], base)
			if !ok {
				rt.s.log.Warn("dropped an upstream redirect to an internal address", "route", rt.opts.Name, "status", resp.StatusCode)
				rec.Reasons = append(rec.Reasons, "upstream_location_dropped")
				continue
			}
			vs = []string{loc}
		case k == "Www-Authenticate":
			continue // the gateway's challenge replaces it on a 401 (upstreamChallenge)
		}
		dst[k] = vs
	}
}

// upstreamCookies returns the Set-Cookie values the client may get: none unless the route
// passes cookies; then each scoped to the route's path, without Domain, and never a
// __Host- cookie (bound to the whole origin) or one named like the gateway's own.
func (rt *route) upstreamCookies(vs []string) []string {
	if !rt.opts.PassCookies {
		return nil
	}
	out := make([]string, 0, len(vs))
	for _, v := range vs {
		c, err := http.ParseSetCookie(v)
		if err != nil {
			continue
		}
		name := strings.ToLower(c.Name)
		if strings.HasPrefix(name, "__host-") || strings.HasPrefix(strings.TrimPrefix(name, "__secure-"), "mcpgate") {
			continue
		}
		c.Domain, c.Path = "", rt.opts.Path
		if s := c.String(); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// publicLocation maps an upstream redirect's Location for the client: relative ones pass;
// one under the upstream's own URL becomes the same place under the route; one at any
// other internal address (loopback, private, link-local, or the upstream's host) is
// dropped (ok false). Other absolute URLs pass.
func (rt *route) publicLocation(loc, base string) (string, bool) {
	u, err := url.Parse(loc)
	if err != nil {
		return "", false
	}
	if u.Host == "" && u.Scheme == "" {
		return loc, true
	}
	if strings.EqualFold(u.Host, rt.upstream.Host) {
		rest, found := strings.CutPrefix(u.Path, strings.TrimRight(rt.upstream.Path, "/"))
		if !found || (rest != "" && rest[0] != '/') {
			return "", false
		}
		pub := *u
		p, _ := url.Parse(base)
		pub.Scheme, pub.Host, pub.RawPath = p.Scheme, p.Host, ""
		pub.Path = strings.TrimRight(rt.opts.Path, "/") + rest
		if rest == "" {
			pub.Path = rt.opts.Path
		}
		return pub.String(), true
	}
	if a, err := netip.ParseAddr(strings.Trim(u.Hostname(), "[]")); err == nil {
		a = a.Unmap()
		if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsUnspecified() {
			return "", false
		}
	}
	if h := strings.ToLower(u.Hostname()); h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return "", false
	}
	return loc, true
}

// upstreamChallenge replaces an upstream 401's challenge with the gateway's own. The
// client's credential is the gateway's business: the upstream saw a credential mcpgate
// obtained (or none), and its challenge would point the client's sign-in at the
// upstream's metadata and authorization server instead of the route's.
func (rt *route) upstreamChallenge(h http.Header, base string) {
	h.Set("WWW-Authenticate", `Bearer resource_metadata=`+quoteParam(rt.metadataURL(base))+
		`, error="invalid_token", error_description="the upstream MCP server refused the request (HTTP 401); if this repeats, sign in again"`)
}
