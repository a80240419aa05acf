package gateway

import (
	"net/http"
)

// protectedResourceMetadata is the RFC 9728 document served for a route.
type protectedResourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers,omitempty"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
}

// Metadata returns the route's metadata for the given canonical base URL.
func (rt *route) Metadata(base string) protectedResourceMetadata {
	return protectedResourceMetadata{
		Resource:               rt.resourceURL(base),
		AuthorizationServers:   rt.opts.AuthorizationServers,
		ScopesSupported:        rt.opts.ScopesSupported,
		BearerMethodsSupported: []string{"header"},
		ResourceName:           rt.opts.ResourceName,
	}
}

// serveMetadata serves the metadata. It is public and readable cross-origin (browser-based
// clients discover it before they have a token).
func (rt *route) serveMetadata(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		h.Set("Access-Control-Allow-Methods", "GET, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "MCP-Protocol-Version")
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		h.Set("Allow", "GET, HEAD, OPTIONS")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method_not_allowed", "error_description": "protected resource metadata is read with GET"})
		return
	}
	if !rt.s.hostAllowed(r.Context(), r) {
		writeJSON(w, http.StatusForbidden, map[string]string{"error": "forbidden_host", "error_description": "the Host header does not name this gateway (DNS rebinding protection)"})
		return
	}
	h.Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, rt.Metadata(rt.s.baseURL(r)))
}
