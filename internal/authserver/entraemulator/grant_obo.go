package entraemulator

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// grantOBO is the On-Behalf-Of flow: a confidential middle tier exchanges a user's access
// token whose audience is itself for a token to one downstream resource.
func (em *Emulator) grantOBO(r *http.Request, t *tenant) (map[string]any, *aadError) {
	f := r.PostForm
	if f.Get("requested_token_use") != "on_behalf_of" {
		return nil, invalidRequest(900144, "The request body must contain the following parameter: 'requested_token_use' with the value on_behalf_of.")
	}
	client, acr, e := em.authClient(r, t, true)
	if e != nil {
		return nil, e
	}
	assertion := f.Get("assertion")
	if assertion == "" {
		return nil, invalidRequest(900144, "The request body must contain the following parameter: 'assertion'.")
	}
	claims, e := em.verifyOwnToken(r, assertion)
	if e != nil {
		return nil, e
	}
	_, hasAppID := claims["appid"]
	_, hasAzp := claims["azp"]
	if !hasAppID && !hasAzp {
		return nil, invalidGrant(240002, "Input id_token cannot be used as 'urn:ietf:params:oauth:grant-type:jwt-bearer' grant.")
	}
	aud, _ := claims.GetAudience()
	if len(aud) != 1 || !client.isIdentifier(aud[0]) {
		return nil, invalidGrant(50013, "Assertion failed signature validation. [Reason - Assertion audience does not match the Client app presenting the assertion. The audience in the assertion was '%s' and the expected audience is '%s' or one of the Application Id URIs of this application with App ID '%s'(%s).]",
			strings.Join(aud, " "), client.clientID, client.clientID, client.name)
	}
	scp, _ := claims["scp"].(string)
	if scp == "" || claims["idtyp"] == "app" {
		return nil, newErr(400, "unauthorized_client", 7000114, "Application '%s' is not allowed to make application on-behalf-of calls.", client.clientID)
	}
	tid, _ := claims["tid"].(string)
	at, ok := em.dir.byKey[strings.ToLower(tid)], true
	if at == nil || (t != nil && t != at) {
		return nil, invalidGrant(50013, "Assertion failed signature validation. [Reason - The assertion was issued for tenant '%s', not the tenant of this request.]", tid)
	}
	oid, _ := claims["oid"].(string)
	u := at.userByOID(oid)
	if u == nil || !ok {
		return nil, invalidGrant(50013, "Assertion failed signature validation. [Reason - The user '%s' of the assertion does not exist in tenant '%s'.]", oid, tid)
	}
	if !client.inTenant(at) {
		return nil, newErr(400, "unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s'.", client.clientID, at.displayName)
	}
	sr, e := em.dir.parseScopes(f.Get("scope"), f.Get("resource"), at, false)
	if e != nil {
		return nil, e
	}
	if sr.res == nil {
		return nil, invalidScope(70011, "The provided value for the input parameter 'scope' is not valid. The scope %s is not valid: name one downstream resource (api://…/scope or …/.default).", f.Get("scope"))
	}
	warnSameRegistration(r, em, claims, client)
	a, _ := claims["aio"].(string)
	amr := amrFromAIO(a)
	return em.issueForUser(r, principal{tenant: at, user: u, client: client, clientAuth: acr, amr: amr}, sr, "")
}

// verifyOwnToken verifies a token this emulator issued (v1 or v2), as Entra verifies an
// OBO assertion.
func (em *Emulator) verifyOwnToken(r *http.Request, tok string) (jwt.MapClaims, *aadError) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(tok, claims, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != em.sig.kid {
			return nil, errKeyNotFound
		}
		return &em.sig.key.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithTimeFunc(em.now), jwt.WithLeeway(5*time.Minute), jwt.WithExpirationRequired())
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenExpired):
		return nil, invalidGrant(500133, "Assertion is not within its valid time range. Ensure that the access token is not expired before using it for user assertion, or request a new token.")
	case errors.Is(err, errKeyNotFound):
		return nil, invalidGrant(50013, "Assertion failed signature validation. [Reason - The key was not found.]")
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return nil, invalidGrant(50013, "Assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value.]")
	default:
		return nil, invalidGrant(50013, "Assertion failed signature validation. [Reason - The assertion is malformed: %v.]", err)
	}
	iss, _ := claims["iss"].(string)
	tid, _ := claims["tid"].(string)
	if iss != V1Issuer(tid) && iss != em.base(r)+"/"+tid+"/v2.0" {
		return nil, invalidGrant(50013, "Assertion failed signature validation. [Reason - The issuer '%s' is not this authority.]", iss)
	}
	return claims, nil
}
