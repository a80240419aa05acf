package gateway

import (
	"net/http"
	"slices"
)

const corsExpose = "Mcp-Session-Id, WWW-Authenticate, MCP-Protocol-Version, " + corsMCPHeaders

// corsMCPHeaders are the 2026-07-28 request headers (SEP-2243), exposed (and allowed in
// preflights, route.go). A tool's Mcp-Param-<Name> headers cannot be listed ahead (CORS has no
// wildcard for credentialed requests): add them to cors.allowHeaders.
const corsMCPHeaders = "Mcp-Method, Mcp-Name"

// originAllowed: the gateway's own origin, the route's allowed origins and its CORS
// origins are accepted; anything else is refused (DNS rebinding / cross-site protection).
func (rt *route) originAllowed(origin, base string) bool {
	c, ok := canonicalOrigin(origin)
	if !ok {
		return false // "null", garbage
	}
	if c == base || rt.anyOrigin || rt.anyCORS {
		return true
	}
	return slices.Contains(rt.allowed, c) || slices.Contains(rt.corsAllow, c)
}

func (rt *route) corsAllowed(origin string) bool {
	if rt.opts.CORS == nil {
		return false
	}
	if rt.anyCORS {
		return true
	}
	c, ok := canonicalOrigin(origin)
	return ok && slices.Contains(rt.corsAllow, c)
}

// setCORS adds the response headers for an allowed cross-origin request.
func (rt *route) setCORS(w http.ResponseWriter, origin string) {
	if !rt.corsAllowed(origin) {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Expose-Headers", corsExpose)
}

// preflight answers OPTIONS without authentication.
func (rt *route) preflight(w http.ResponseWriter, r *http.Request, rec *Event, base string) {
	origin := r.Header.Get("Origin")
	if origin == "" || r.Header.Get("Access-Control-Request-Method") == "" {
		w.Header().Set("Allow", "GET, POST, DELETE, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
		rec.Status = http.StatusNoContent
		return
	}
	if !rt.corsAllowed(origin) && !(rt.originAllowed(origin, base) && rt.opts.CORS != nil) {
		rt.forbiddenOrigin(w, rec, origin)
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", rt.corsHeader)
	h.Set("Access-Control-Expose-Headers", corsExpose)
	h.Set("Access-Control-Max-Age", rt.corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
	rec.Status = http.StatusNoContent
	rec.Decision = "preflight"
}

func (rt *route) forbiddenOrigin(w http.ResponseWriter, rec *Event, origin string) {
	msg := "route " + quoteName(rt.opts.Name) + ": requests from origin " + quoteName(origin) +
		" are not allowed (DNS rebinding protection); add it to the route's allowedOrigins or cors.allowOrigins if it is a legitimate client"
	rt.jsonrpcError(w, rec, http.StatusForbidden, nil, "forbidden_origin", msg)
}
