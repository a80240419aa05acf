package entraemulator

import "encoding/json"

// claimsStepUp reports whether the authorize request's claims parameter (OpenID Connect
// Core §5.5) is a claims challenge that needs a stronger sign-in.
//
// Entra steps up only for access-token challenges: an authentication context ("acrs") or
// the Conditional Access policies a resource named in its interaction_required answer
// ("capolids"). The claims MSAL sends on every request are not challenges: non-essential
// id_token claims, and client capabilities ("xms_cc", when clientCapabilities is set) under
// access_token. A parameter that is not a JSON object asks for nothing.
func claimsStepUp(claims string) bool {
	if claims == "" {
		return false
	}
	var req struct {
		AccessToken map[string]json.RawMessage `json:"access_token"`
	}
	if json.Unmarshal([]byte(claims), &req) != nil {
		return false
	}
	_, acrs := req.AccessToken["acrs"]
	_, capolids := req.AccessToken["capolids"]
	return acrs || capolids
}
