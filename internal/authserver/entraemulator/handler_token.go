package entraemulator

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/clip"
)

// grantRecord is what a refresh token stands for.
type grantRecord struct {
	tenant   *tenant
	user     *user
	client   *app
	amr      []string
	authTime time.Time
	expires  time.Time
	// spa: issued to a Single-page application redirect URI. Such codes and refresh tokens
	// are redeemed cross-origin only, and the refresh tokens expire 24 hours after the
	// sign-in, however often they are redeemed.
	spa bool
}

type authCode struct {
	grantRecord
	redirect  string
	challenge string
	method    string
	nonce     string
	scope     string
	used      bool
}

const (
	grantJWTBearer  = "urn:ietf:params:oauth:grant-type:jwt-bearer"
	grantDeviceCode = "urn:ietf:params:oauth:grant-type:device_code"
)

func (em *Emulator) handleToken(version int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			em.writeFormError(w, r, err)
			return
		}
		t, ok := em.dir.tenant(r.PathValue("tenant"))
		if !ok {
			em.writeError(w, r, unknownTenant(r.PathValue("tenant")))
			return
		}
		v1Resource := r.PostForm.Get("resource")
		if version == 1 {
			// v1: the target is the resource parameter; it means all consented permissions.
			if res := r.PostForm.Get("resource"); res != "" {
				sc := strings.TrimRight(res, "/") + "/.default"
				if strings.Contains(" "+r.PostForm.Get("scope")+" ", " openid ") {
					sc += " openid"
				}
				if r.PostForm.Has("refresh_token") || r.PostForm.Get("grant_type") != "client_credentials" {
					sc += " offline_access"
				}
				r.PostForm.Set("scope", sc)
				r.PostForm.Del("resource")
			}
		}
		var resp map[string]any
		var e *aadError
		switch gt := r.PostForm.Get("grant_type"); gt {
		case "authorization_code":
			resp, e = em.grantCode(r, t)
		case "refresh_token":
			resp, e = em.grantRefresh(r, t)
		case "client_credentials":
			resp, e = em.grantClientCredentials(r, t)
		case grantDeviceCode, "device_code":
			resp, e = em.grantDevice(r, t)
		case "password":
			resp, e = em.grantPassword(r, t)
		case grantJWTBearer:
			resp, e = em.grantOBO(r, t)
		case grantTokenExchange: // grant_idjag.go
			resp, e = em.grantIDJAG(r, t)
		case "":
			e = invalidRequest(900144, "The request body must contain the following parameter: 'grant_type'.")
		default:
			e = newErr(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '%s'.", gt)
		}
		if e != nil {
			em.writeError(w, r, e)
			return
		}
		if version == 1 {
			resp = v1Response(resp, em.now(), v1Resource)
		}
		em.log.InfoContext(r.Context(), "entra: token issued", "grant_type", r.PostForm.Get("grant_type"),
			"client_id", clip.String(r.PostForm.Get("client_id")), "token_hash", tokenHash(fmt.Sprint(resp["access_token"])))
		writeJSON(w, http.StatusOK, resp)
	}
}

func unknownTenant(seg string) *aadError {
	return newErr(400, "invalid_request", 90002, "Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.", seg)
}

func v1Response(resp map[string]any, now time.Time, resource string) map[string]any {
	out := map[string]any{}
	for k, v := range resp {
		out[k] = v
	}
	if n, ok := resp["expires_in"].(int); ok {
		out["expires_in"] = strconv.Itoa(n)
		out["ext_expires_in"] = strconv.Itoa(n)
		out["expires_on"] = strconv.FormatInt(now.Add(time.Duration(n)*time.Second).Unix(), 10)
		out["not_before"] = strconv.FormatInt(now.Add(-5*time.Minute).Unix(), 10)
	}
	if resource != "" {
		out["resource"] = resource
	}
	return out
}

// issueForUser checks consent and Conditional Access and builds the token response for a
// user grant. nonce goes into the id_token.
func (em *Emulator) issueForUser(r *http.Request, p principal, sr *scopeRequest, nonce string) (map[string]any, *aadError) {
	u := p.user
	res := sr.res
	values := slices.Clone(sr.values)
	signInOnly := res == nil
	if signInOnly {
		// Only OpenID Connect scopes: Entra returns a Graph token for User.Read, which the
		// sign-in itself consents to.
		res = em.dir.appByID[GraphAppID]
		values = []string{"User.Read"}
	} else if sr.dflt {
		if p.client == res {
			values = nil
			for v := range res.scopes {
				values = append(values, v)
			}
			slices.Sort(values)
		} else {
			values = em.dir.defaultScopes(u, p.client, res)
		}
		if len(values) == 0 {
			return nil, consentRequired(p.client, res)
		}
	}
	if !res.inTenant(p.tenant) {
		return nil, newErr(400, "invalid_resource", 500011, "The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", res.resourceID(), p.tenant.displayName)
	}
	for _, v := range values {
		if !signInOnly && !em.dir.consented(u, p.client, res, v) {
			return nil, consentRequired(p.client, res)
		}
	}
	if e := em.conditionalAccess(p, res); e != nil {
		return nil, e
	}
	at, exp := em.mintAccess(r, p, res, values, u.userRoles(res))
	qs := &scopeRequest{res: res, asSent: sr.asSent, dflt: sr.dflt}
	if signInOnly {
		qs.asSent = nil
	}
	scope := qs.qualified(values)
	for _, o := range sr.oidc {
		if o != "offline_access" { // Entra never lists offline_access in the answer
			scope += " " + o
		}
	}
	resp := map[string]any{
		"token_type": "Bearer", "scope": strings.TrimSpace(scope),
		"expires_in": int(exp.Sub(em.now()).Seconds()), "ext_expires_in": int(exp.Sub(em.now()).Seconds()),
		"access_token": at,
	}
	if sr.has("openid") {
		resp["id_token"] = em.mintID(r, p, nonce)
	}
	if sr.has("offline_access") {
		resp["refresh_token"] = em.newRefresh(p)
		if p.spa {
			resp["refresh_token_expires_in"] = int(p.spaExpires.Sub(em.now()).Seconds())
		}
	}
	if r.PostForm.Get("client_info") == "1" {
		resp["client_info"] = clientInfo(u)
	}
	return resp, nil
}

func consentRequired(client, res *app) *aadError {
	e := invalidGrant(65001, "The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", client.clientID, client.name)
	e.SubError = "consent_required"
	return e
}

// conditionalAccess applies the tenant's policies: MFA required but not done → 50076
// interaction_required with a claims challenge naming the policies.
func (em *Emulator) conditionalAccess(p principal, res *app) *aadError {
	rules := p.tenant.caRequired(p.user, res)
	if len(rules) == 0 || slices.Contains(p.amr, "mfa") {
		return nil
	}
	var ids []string
	for _, r := range rules {
		ids = append(ids, r.id)
	}
	claims, _ := json.Marshal(map[string]any{"access_token": map[string]any{
		"capolids": map[string]any{"essential": true, "values": ids}}})
	e := newErr(400, "interaction_required", 50076, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '%s'.", res.clientID)
	e.SubError = "basic_action"
	e.Claims = string(claims)
	return e
}

func (em *Emulator) newRefresh(p principal) string {
	rt := "1.A" + strings.TrimRight(base64.RawURLEncoding.EncodeToString([]byte(randToken(48))), "=")
	em.mu.Lock()
	em.sweepLocked()
	exp := em.now().Add(em.cfg.RefreshTokenLifetime.D())
	if p.spa {
		exp = p.spaExpires
	}
	em.refresh[rt] = &grantRecord{tenant: p.tenant, user: p.user, client: p.client, amr: p.amr,
		authTime: p.authTime, expires: exp, spa: p.spa}
	em.mu.Unlock()
	return rt
}

func (em *Emulator) grantCode(r *http.Request, t *tenant) (map[string]any, *aadError) {
	f := r.PostForm
	code := f.Get("code")
	em.mu.Lock()
	spa := em.codes[code] != nil && em.codes[code].spa
	var redirectOrigin string
	if spa {
		redirectOrigin = originOf(em.codes[code].redirect)
	}
	em.mu.Unlock()
	client, acr, e := em.authClientFor(r, t, spa)
	if e != nil {
		return nil, e
	}
	if e := checkOrigin(r, spa, redirectOrigin); e != nil {
		return nil, e
	}
	em.mu.Lock()
	ac := em.codes[code]
	if ac != nil && !ac.used {
		ac.used = true
		em.mu.Unlock()
	} else {
		em.mu.Unlock()
		if ac != nil {
			return nil, invalidGrant(54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
		}
		return nil, invalidGrant(70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
	}
	if em.now().After(ac.expires) {
		return nil, invalidGrant(70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
	}
	if ac.client != client {
		return nil, invalidGrant(70002, "The client application '%s' is not the one the authorization code was issued to.", client.clientID)
	}
	if f.Get("redirect_uri") != ac.redirect {
		return nil, invalidGrant(50148, "The redirect_uri does not match the one used in the authorization request.")
	}
	if ac.spa && ac.challenge == "" {
		return nil, invalidRequest(9002325, "Proof Key for Code Exchange is required for cross-origin authorization code redemption.")
	}
	if ac.challenge != "" {
		v := f.Get("code_verifier")
		if v == "" {
			return nil, invalidGrant(501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
		}
		got := v
		if ac.method == "S256" {
			h := sha256.Sum256([]byte(v))
			got = base64.RawURLEncoding.EncodeToString(h[:])
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(ac.challenge)) != 1 {
			return nil, invalidGrant(501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
		}
	}
	scope := f.Get("scope")
	if scope == "" {
		scope = ac.scope
	}
	sr, e := em.dir.parseScopes(scope, f.Get("resource"), ac.tenant, false)
	if e != nil {
		return nil, e
	}
	p := principal{tenant: ac.tenant, user: ac.user, client: client, clientAuth: acr, amr: ac.amr, authTime: ac.authTime, spa: ac.spa}
	if ac.spa {
		p.spaExpires = em.now().Add(min(spaRefreshLifetime, em.cfg.RefreshTokenLifetime.D()))
	}
	return em.issueForUser(r, p, sr, ac.nonce)
}

func (em *Emulator) grantRefresh(r *http.Request, t *tenant) (map[string]any, *aadError) {
	rt := r.PostForm.Get("refresh_token")
	em.mu.Lock()
	g := em.refresh[rt]
	em.mu.Unlock()
	spa := g != nil && g.spa
	client, acr, e := em.authClientFor(r, t, spa)
	if e != nil {
		return nil, e
	}
	var origins []string
	if spa {
		origins = g.client.spaOrigins()
	}
	if e := checkOrigin(r, spa, origins...); e != nil {
		return nil, e
	}
	if g == nil || em.now().After(g.expires) {
		return nil, invalidGrant(70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
	}
	if g.client != client {
		return nil, invalidGrant(70000, "Provided grant is invalid or malformed: the refresh token was issued to a different client.")
	}
	if t != nil && t != g.tenant {
		return nil, invalidGrant(9002313, "Invalid request. Request is malformed or invalid: the refresh token belongs to another tenant.")
	}
	sr, e := em.dir.parseScopes(r.PostForm.Get("scope"), r.PostForm.Get("resource"), g.tenant, false)
	if e != nil {
		return nil, e
	}
	if !sr.has("offline_access") {
		sr.oidc = append(sr.oidc, "offline_access") // a refresh always returns a new refresh token
	}
	return em.issueForUser(r, principal{tenant: g.tenant, user: g.user, client: client, clientAuth: acr, amr: g.amr, authTime: g.authTime,
		spa: g.spa, spaExpires: g.expires}, sr, "")
}

func (em *Emulator) grantPassword(r *http.Request, t *tenant) (map[string]any, *aadError) {
	client, acr, e := em.authClient(r, t, false)
	if e != nil {
		return nil, e
	}
	u := em.findUser(t, r.PostForm.Get("username"))
	if u == nil || subtle.ConstantTimeCompare([]byte(u.cfg.Password), []byte(r.PostForm.Get("password"))) != 1 {
		return nil, invalidGrant(50126, "Error validating credentials due to invalid username or password.")
	}
	if !client.inTenant(u.tenant) {
		return nil, newErr(400, "unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s'.", client.clientID, u.tenant.displayName)
	}
	sr, e := em.dir.parseScopes(r.PostForm.Get("scope"), r.PostForm.Get("resource"), u.tenant, false)
	if e != nil {
		return nil, e
	}
	return em.issueForUser(r, principal{tenant: u.tenant, user: u, client: client, clientAuth: acr, amr: []string{"pwd"}, authTime: em.now()}, sr, "")
}

func (em *Emulator) findUser(t *tenant, upn string) *user {
	if t != nil {
		return t.userByUPN(upn)
	}
	return em.dir.userByUPN(upn)
}

func (em *Emulator) grantClientCredentials(r *http.Request, t *tenant) (map[string]any, *aadError) {
	if t == nil {
		return nil, invalidRequest(50059, "No tenant-identifying information found in either the request or implied by any provided credentials. Use a tenant-specific authority (/{tenant-id} or /{domain}) for client credentials.")
	}
	client, acr, e := em.authClient(r, t, true)
	if e != nil {
		return nil, e
	}
	var items []string // OpenID Connect scopes (MSAL adds them) are ignored, as Entra does
	for _, s := range strings.Fields(r.PostForm.Get("scope")) {
		if !slices.Contains(oidcScopes, strings.ToLower(s)) {
			items = append(items, s)
		}
	}
	if len(items) != 1 || !strings.HasSuffix(items[0], "/.default") {
		return nil, invalidScope(1002012, "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", r.PostForm.Get("scope"))
	}
	sr, e := em.dir.parseScopes(items[0], r.PostForm.Get("resource"), t, false)
	if e != nil {
		return nil, e
	}
	res := sr.res
	if !res.inTenant(t) {
		return nil, newErr(400, "invalid_resource", 500011, "The resource principal named %s was not found in the tenant named %s.", res.resourceID(), t.displayName)
	}
	roles := em.dir.appRoles(t, client, res)
	if client == res {
		roles = nil
	}
	at, exp := em.mintAccess(r, principal{tenant: t, client: client, clientAuth: acr}, res, nil, roles)
	n := int(exp.Sub(em.now()).Seconds())
	return map[string]any{"token_type": "Bearer", "expires_in": n, "ext_expires_in": n, "access_token": at}, nil
}
