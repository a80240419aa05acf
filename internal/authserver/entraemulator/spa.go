package entraemulator

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// spaRefreshLifetime is the fixed lifetime of refresh tokens issued to Single-page
// application redirect URIs: 24 hours from the sign-in, not extended by redemption (Entra's
// "refresh tokens for SPAs", which is why MSAL.js falls back to a hidden iframe with the
// session cookie after a day).
const spaRefreshLifetime = 24 * time.Hour

// originOf is the Web origin (scheme://host[:port]) of an absolute URL, "" if it has none.
func originOf(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" || p.Host == "" {
		return ""
	}
	return strings.ToLower(p.Scheme + "://" + p.Host)
}

// cors answers cross-origin requests as Entra does, and reports whether the request was a
// preflight it has fully answered.
//
//   - Discovery documents and key sets are public: any origin may read them (MSAL.js fetches
//     the authority metadata from the page).
//   - The token endpoints answer CORS only for the origin of a registered Single-page
//     application redirect URI; a web app's or an unknown origin gets no
//     Access-Control-Allow-Origin, so the browser withholds the answer. Only SPA redirect
//     URIs may redeem codes from the browser.
func (em *Emulator) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return false
	}
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/openid-configuration") || strings.HasSuffix(p, "/keys") || strings.HasSuffix(p, "/discovery/instance"):
		w.Header().Set("Access-Control-Allow-Origin", "*")
	case strings.HasSuffix(p, "/token"):
		w.Header().Add("Vary", "Origin")
		if !em.dir.spaOrigins[strings.ToLower(origin)] {
			if r.Method == http.MethodOptions {
				w.WriteHeader(http.StatusNoContent)
				return true
			}
			return false
		}
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Expose-Headers", "client-request-id, x-ms-request-id")
	default:
		return false
	}
	if r.Method == http.MethodOptions {
		w.Header().Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		w.Header().Set("Access-Control-Allow-Headers", "content-type, client-request-id, x-client-sku, x-client-ver, x-client-os, x-client-cpu, x-client-current-telemetry, x-client-last-telemetry, x-app-name, x-app-ver, x-ms-lib-capability")
		w.Header().Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return true
	}
	return false
}

// checkOrigin applies Entra's rules on where a code or refresh token may be redeemed: one
// issued to a Single-page application redirect URI only cross-origin (the browser sends
// Origin) and only from the origin of a redirect URI it may use — origins lists them: the
// code's redirect URI, or for a refresh token every SPA redirect URI of its app — and any
// other never cross-origin. A redemption from another origin is answered as Entra answers a
// cross-origin request that is not a SPA's (AADSTS9002326, naming the request origin).
func checkOrigin(r *http.Request, spa bool, origins ...string) *aadError {
	origin := r.Header.Get("Origin")
	switch {
	case spa && origin == "":
		return invalidRequest(9002327, "Tokens issued for the 'Single-Page Application' client-type may only be redeemed via cross-origin requests.")
	case !spa && origin != "":
		return invalidRequest(9002326, "Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type. Request origin: '%s'.", origin)
	case spa && !slices.Contains(origins, strings.ToLower(origin)):
		return invalidRequest(9002326, "Cross-origin token redemption is permitted only for the 'Single-Page Application' client-type. Request origin: '%s'. "+
			"The origin is not that of a Single-page application redirect URI the grant was issued for.", origin)
	}
	return nil
}

// spaOrigins are the origins of the app's Single-page application redirect URIs.
func (a *app) spaOrigins() []string {
	var out []string
	for u := range a.spa {
		if o := originOf(u); o != "" && !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	return out
}

// authClientFor authenticates the client of a code or refresh grant. A grant issued to a
// Single-page application redirect URI is a public client's: no credential is needed (a
// browser cannot keep one), even when the app also has secrets for its web platform.
func (em *Emulator) authClientFor(r *http.Request, t *tenant, spa bool) (*app, string, *aadError) {
	f := r.PostForm
	_, _, basic := r.BasicAuth()
	if spa && !basic && f.Get("client_secret") == "" && f.Get("client_assertion") == "" {
		a := em.dir.appByID[strings.ToLower(f.Get("client_id"))]
		if a != nil && a.home != nil && (t == nil || a.inTenant(t)) {
			return a, "0", nil
		}
	}
	return em.authClient(r, t, false)
}
