package entraemulator

import (
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
)

// The emulator serves the one Microsoft Graph call that group overage needs:
// POST /v1.0/me/getMemberObjects and POST /v1.0/users/{id}/getMemberObjects with body
// {"securityEnabledOnly": bool}, answering {"value": ["<group object id>", ...]}. Like
// Graph, it takes only access tokens issued for Graph (aud https://graph.microsoft.com
// or 00000003-0000-0000-c000-000000000000) by this emulator, and checks the permission:
// /me needs the delegated User.Read (or higher); another user needs GroupMember.Read.All
// with User.ReadBasic.All, or User.Read.All / Directory.Read.All (delegated or application).

// graphMemberObjectsPath is the overage endpoint of a user, relative to the emulator base.
func graphMemberObjectsPath(oid string) string { return "/v1.0/users/" + oid + "/getMemberObjects" }

// graphError is a Microsoft Graph error document.
func (em *Emulator) graphError(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	em.log.Info("entra: graph request refused", "path", r.URL.Path, "status", status, "code", code, "reason", msg)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
	}
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg,
		"innerError": map[string]string{"date": em.now().UTC().Format("2006-01-02T15:04:05"), "request-id": newGUID(), "client-request-id": newGUID()}}})
}

// graphCaller verifies a Graph access token; ok false means the error was written.
func (em *Emulator) graphCaller(w http.ResponseWriter, r *http.Request) (jwt.MapClaims, bool) {
	raw, found := authn.BearerToken(r.Header.Get("Authorization"))
	if !found {
		em.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token is empty.")
		return nil, false
	}
	c := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(raw, c, func(*jwt.Token) (any, error) { return &em.sig.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(em.now), jwt.WithExpirationRequired())
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		em.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Lifetime validation failed, the token is expired.")
		return nil, false
	case err != nil:
		em.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid signature or malformed token.")
		return nil, false
	}
	aud, _ := c["aud"].(string)
	if aud != GraphResource && aud != GraphResource+"/" && aud != GraphAppID {
		em.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
		return nil, false
	}
	iss, _ := c["iss"].(string)
	tid, _ := c["tid"].(string)
	if tid == "" || (iss != V1Issuer(tid) && iss != em.base(r)+"/"+tid+"/v2.0") {
		em.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. Invalid issuer.")
		return nil, false
	}
	return c, true
}

func (em *Emulator) handleGraphMemberObjects(me bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, ok := em.graphCaller(w, r)
		if !ok {
			return
		}
		tid, _ := c["tid"].(string)
		t := em.dir.byKey[strings.ToLower(tid)]
		if t == nil {
			em.graphError(w, r, http.StatusUnauthorized, "InvalidAuthenticationToken", "Access token validation failure. The tenant of the token is unknown.")
			return
		}
		scp, roles := authn.ClaimStrings(c["scp"], true), authn.ClaimStrings(c["roles"], true)
		delegated := len(scp) > 0
		callerOID, _ := c["oid"].(string)
		target := strings.ToLower(r.PathValue("id"))
		if me {
			if !delegated {
				em.graphError(w, r, http.StatusBadRequest, "BadRequest", "/me request is only valid with delegated authentication flow.")
				return
			}
			target = strings.ToLower(callerOID)
		}
		has := func(list []string, want ...string) bool {
			return slices.ContainsFunc(list, func(s string) bool { return slices.Contains(want, s) })
		}
		granted := has(scp, "User.Read.All", "Directory.Read.All", "Directory.ReadWrite.All", "User.ReadWrite.All") ||
			has(scp, "GroupMember.Read.All") && has(scp, "User.ReadBasic.All", "User.Read") ||
			has(roles, "User.Read.All", "Directory.Read.All", "Directory.ReadWrite.All") ||
			has(roles, "GroupMember.Read.All") && has(roles, "User.ReadBasic.All")
		if delegated && target == strings.ToLower(callerOID) && has(scp, "User.Read", "User.ReadWrite") {
			granted = true // the signed-in user's own memberships
		}
		if !granted {
			em.graphError(w, r, http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
			return
		}
		var body struct {
			SecurityEnabledOnly *bool `json:"securityEnabledOnly"`
		}
		if err := jsonlimit.Decode(r.Body, maxFormBytes, jsonlimit.Limits{MaxDepth: 8, MaxValues: 100}, &body); err != nil {
			em.graphError(w, r, http.StatusBadRequest, "BadRequest", "Empty Payload. JSON content expected.")
			return
		}
		var u *user
		for _, x := range t.users {
			if x.oid == target {
				u = x
			}
		}
		if u == nil {
			em.graphError(w, r, http.StatusNotFound, "Request_ResourceNotFound",
				"Resource '"+r.PathValue("id")+"' does not exist or one of its queried reference-property objects are not present.")
			return
		}
		// Every emulator group is a security group, so securityEnabledOnly changes nothing.
		ids := append([]string{}, u.groupIDs...)
		em.log.Info("entra: graph getMemberObjects", "tenant", t.id, "user", u.oid, "caller", callerOID, "count", len(ids))
		writeJSON(w, http.StatusOK, map[string]any{
			"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(Edm.String)",
			"value":          ids,
		})
	}
}
