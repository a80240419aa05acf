package entraemulator

import (
	"net/http"
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// The "two app registrations" rule. A web canvas that hands its user to an agent silently
// (MSAL.js acquireTokenSilent, then the agent's On-Behalf-Of exchange, as in Copilot
// Studio's SSO) needs two registrations: the canvas (a client: SPA redirect URIs) and the
// agent's API (exposes the scope the canvas asks for and exchanges it). Entra itself lets
// one registration do both — a client may get a token for its own scope and exchange it —
// so, like Entra, the emulator serves it, but it logs a warning naming the app, because the
// products on top (Copilot Studio's token exchange, mcpgate's demo agent) refuse a token
// whose client is the exchanging app itself.

// warnSameRegistration logs when an OBO assertion was issued to the very app exchanging it.
func warnSameRegistration(r *http.Request, em *Emulator, claims jwt.MapClaims, client *app) {
	azp, _ := claims["azp"].(string)
	if azp == "" {
		azp, _ = claims["appid"].(string)
	}
	if strings.EqualFold(azp, client.clientID) {
		em.log.WarnContext(r.Context(), "entra: On-Behalf-Of of a token the app issued to itself: one app registration is both the client (canvas) and the API (agent); use two registrations",
			"client_id", client.clientID, "app", client.name)
	}
}

// sameRegistrationApps are the apps configured as both a browser client (SPA redirect
// URIs) and an API that pre-authorizes or requires itself — the misconfiguration the rule
// above is about, reported when the emulator starts.
func (d *directory) sameRegistrationApps() []*app {
	var out []*app
	for _, a := range d.apps {
		if len(a.spa) == 0 {
			continue
		}
		if _, self := a.preAuth[a.clientID]; self || a.required[a.clientID] != nil {
			out = append(out, a)
		}
	}
	return out
}
