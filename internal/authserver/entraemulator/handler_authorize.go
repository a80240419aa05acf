package entraemulator

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// pendingAuth is an authorization request between the authorize redirect and the issued
// code (the "ctx" of the login form).
type pendingAuth struct {
	tenant       *tenant // nil for common/organizations
	seg          string
	client       *app
	redirect     string
	responseMode string
	state        string
	nonce        string
	challenge    string
	method       string
	scope        string
	sr           *scopeRequest
	claims       string
	prompt       string
	loginHint    string
	spa          bool // redirect is a Single-page application redirect URI
	sso          bool // signed in by the browser's session, not the form
	user         *user
	amr          []string
	expires      time.Time
}

func (em *Emulator) handleAuthorize(version int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		seg := r.PathValue("tenant")
		t, ok := em.dir.tenant(seg)
		if !ok {
			em.errorPage(w, r, unknownTenant(seg))
			return
		}
		clientID := q.Get("client_id")
		client := em.dir.appByID[strings.ToLower(clientID)]
		if client == nil || client.home == nil || (t != nil && !client.inTenant(t)) {
			em.errorPage(w, r, newErr(400, "unauthorized_client", 700016,
				"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
				clientID, tenantDisplay(t)))
			return
		}
		if t == nil && !client.multi && strings.EqualFold(seg, "common") {
			em.errorPage(w, r, invalidRequest(50194, "Application '%s'(%s) is not configured as a multi-tenant application. Usage of the /common endpoint is not supported for such applications created after '10/15/2018'. Use a tenant-specific endpoint or configure the application to be multi-tenant.", client.clientID, client.name))
			return
		}
		redirect := q.Get("redirect_uri")
		if all := client.redirectURIs(); redirect == "" && len(all) > 0 {
			redirect = all[0]
		}
		if !slices.Contains(client.cfg.RedirectURIs, redirect) && !client.spa[redirect] {
			em.errorPage(w, r, invalidRequest(50011, "The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.", redirect, client.clientID))
			return
		}
		p := &pendingAuth{tenant: t, seg: seg, client: client, redirect: redirect, responseMode: q.Get("response_mode"),
			state: q.Get("state"), nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), method: q.Get("code_challenge_method"),
			claims: q.Get("claims"), prompt: q.Get("prompt"), loginHint: q.Get("login_hint"), expires: em.now().Add(15 * time.Minute),
			spa: client.spa[redirect]}
		if p.method == "" && p.challenge != "" {
			p.method = "plain"
		}
		if rt := q.Get("response_type"); rt != "code" {
			em.redirectError(w, r, p, newErr(400, "unsupported_response_type", 70005, "The response_type '%s' is not supported: this emulator issues authorization codes only (response_type=code).", rt))
			return
		}
		if p.method != "" && p.method != "S256" && p.method != "plain" {
			em.redirectError(w, r, p, invalidRequest(501491, "Invalid code_challenge_method '%s': use S256.", p.method))
			return
		}
		scope := q.Get("scope")
		resource := q.Get("resource")
		if version == 1 && resource != "" {
			scope = strings.TrimRight(resource, "/") + "/.default openid offline_access"
			resource = ""
		}
		sr, e := em.dir.parseScopes(scope, resource, t, true)
		if e != nil {
			em.redirectError(w, r, p, e)
			return
		}
		p.sr, p.scope = sr, scope
		ctx := randToken(16)
		em.mu.Lock()
		em.sweepLocked()
		em.pending[ctx] = p
		em.mu.Unlock()
		if em.cfg.AutoLogin != "" {
			u := em.dir.userByUPN(em.cfg.AutoLogin)
			p.user = u
			p.amr = []string{"pwd"}
			if claimsStepUp(p.claims) || len(u.tenant.caRequired(u, em.target(p))) > 0 {
				p.amr = []string{"pwd", "mfa"}
			}
			em.continueLogin(w, r, ctx, p, "accept")
			return
		}
		// Single sign-on: the browser's session signs the user in without the form, unless
		// the application asks for a fresh sign-in or an account choice.
		if p.prompt != "login" && p.prompt != "select_account" {
			if sess := em.session(r, p); sess != nil {
				p.user, p.amr, p.sso = sess.user, sess.amr, true
				em.continueLogin(w, r, ctx, p, "")
				return
			}
		}
		if p.prompt == "none" {
			em.redirectError(w, r, p, newErr(400, "login_required", 50058, "A silent sign-in request was sent but no user is signed in."))
			return
		}
		em.render(w, http.StatusOK, page{Heading: "Sign in", Sub: "to continue to " + client.name, Step: "password", Ctx: ctx, Action: r.URL.Path, Login: p.loginHint})
	}
}

// target is the resource app of a pending request (Graph when only OIDC scopes).
func (em *Emulator) target(p *pendingAuth) *app {
	if p.sr.res != nil {
		return p.sr.res
	}
	return em.dir.appByID[GraphAppID]
}

// handleLogin receives the login, MFA and consent forms.
func (em *Emulator) handleLogin(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		em.render(w, http.StatusBadRequest, page{Heading: "Something went wrong", Error: "The form could not be read."})
		return
	}
	ctx := r.PostForm.Get("ctx")
	em.mu.Lock()
	p := em.pending[ctx]
	em.mu.Unlock()
	if p == nil || em.now().After(p.expires) {
		em.render(w, http.StatusBadRequest, page{Heading: "Sorry, but we're having trouble signing you in.",
			Error: "AADSTS90014: The sign-in session expired or is unknown. Go back to the application and sign in again."})
		return
	}
	if p.user == nil {
		login := r.PostForm.Get("login")
		u := em.findUser(p.tenant, login)
		if u == nil && p.tenant != nil && em.dir.userByUPN(login) != nil {
			em.render(w, http.StatusOK, page{Heading: "Sign in", Sub: "to continue to " + p.client.name, Step: "password", Ctx: ctx, Action: r.URL.Path, Login: login,
				Error: fmt.Sprintf("AADSTS50020: User account '%s' does not exist in tenant '%s' and cannot access the application '%s' in that tenant.", login, p.tenant.displayName, p.client.clientID)})
			return
		}
		if u == nil || subtle.ConstantTimeCompare([]byte(u.cfg.Password), []byte(r.PostForm.Get("passwd"))) != 1 {
			em.log.WarnContext(r.Context(), "entra: sign-in failed", "client_id", p.client.clientID, "aadsts", 50126)
			em.render(w, http.StatusOK, page{Heading: "Sign in", Sub: "to continue to " + p.client.name, Step: "password", Ctx: ctx, Action: r.URL.Path, Login: login,
				Error: "Your account or password is incorrect. If you don't remember your password, reset it now. (AADSTS50126)"})
			return
		}
		if !p.client.inTenant(u.tenant) {
			em.redirectError(w, r, p, newErr(400, "unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s'.", p.client.clientID, u.tenant.displayName))
			return
		}
		p.user, p.amr = u, []string{"pwd"}
	}
	if otc := r.PostForm.Get("otc"); otc != "" {
		if subtle.ConstantTimeCompare([]byte(otc), []byte(p.user.cfg.MFACode)) != 1 {
			em.render(w, http.StatusOK, page{Heading: "Enter code", Sub: p.user.upn, Step: "mfa", Ctx: ctx, Action: r.URL.Path,
				Error: "You didn't enter the expected verification code. Please try again."})
			return
		}
		p.amr = []string{"pwd", "mfa"}
	}
	em.continueLogin(w, r, ctx, p, r.PostForm.Get("consent"))
}

// continueLogin runs the steps after the password: MFA, consent, then the code.
func (em *Emulator) continueLogin(w http.ResponseWriter, r *http.Request, ctx string, p *pendingAuth, consent string) {
	u := p.user
	res := em.target(p)
	needMFA := claimsStepUp(p.claims) || len(u.tenant.caRequired(u, res)) > 0
	if needMFA && !slices.Contains(p.amr, "mfa") {
		if p.prompt == "none" {
			e := newErr(400, "interaction_required", 50076, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '%s'.", res.clientID)
			em.redirectError(w, r, p, e)
			return
		}
		em.render(w, http.StatusOK, page{Heading: "Enter code", Sub: u.upn, Step: "mfa", Ctx: ctx, Action: r.URL.Path})
		return
	}
	// Consent: the scopes the client asked for that are not yet granted.
	var missing []perm
	var adminOnly []string
	values := p.sr.values
	if p.sr.dflt && p.client != res {
		values = nil
		if req := p.client.required[res.clientID]; req != nil {
			values = req.Scopes
		}
	}
	for _, v := range values {
		if v == ".default" || p.client == res || (em.dir.consented(u, p.client, res, v) && p.prompt != "consent") {
			continue
		}
		if res.needsAdmin(v) && !u.tenant.adminConsent[p.client.clientID] {
			adminOnly = append(adminOnly, v)
			continue
		}
		missing = append(missing, perm{Scope: v, Description: res.scopes[v].Description, Resource: res.name})
	}
	// Combined consent: a known client application asking for the middle tier's .default
	// also consents to the middle tier's own permissions.
	var combined []func()
	if res.knownClient[p.client.clientID] && p.sr.dflt {
		for resID, req := range res.required {
			down := em.dir.appByID[resID]
			for _, v := range req.Scopes {
				if !em.dir.consented(u, res, down, v) {
					if down.needsAdmin(v) && !u.tenant.adminConsent[res.clientID] {
						adminOnly = append(adminOnly, v)
						continue
					}
					missing = append(missing, perm{Scope: v, Description: down.scopes[v].Description, Resource: down.name})
					full := down.resourceID() + "/" + v
					combined = append(combined, func() { em.dir.grantUserConsent(u.tenant.id, u.oid, res.clientID, full) })
				}
			}
		}
	}
	if len(adminOnly) > 0 {
		e := newErr(400, "invalid_client", 90094, "The grant requires admin permission: %s needs an administrator to consent to %s. Ask an admin to grant admin consent for %s.", p.client.name, strings.Join(adminOnly, ", "), u.tenant.displayName)
		e.SubError = "consent_required"
		em.redirectError(w, r, p, e)
		return
	}
	if len(missing) > 0 {
		switch consent {
		case "accept":
			for _, m := range missing {
				if m.Resource == res.name {
					em.dir.grantUserConsent(u.tenant.id, u.oid, p.client.clientID, res.resourceID()+"/"+m.Scope)
				}
			}
			for _, f := range combined {
				f()
			}
		case "cancel":
			e := newErr(400, "access_denied", 65004, "User declined to consent to access the app.")
			e.SubError = "consent_required"
			em.redirectError(w, r, p, e)
			return
		default:
			if p.prompt == "none" {
				e := newErr(400, "consent_required", 65001, "The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", p.client.clientID, p.client.name)
				em.redirectError(w, r, p, e)
				return
			}
			em.render(w, http.StatusOK, page{Title: "Permissions requested", Heading: "Permissions requested", Sub: u.upn,
				Step: "consent", Ctx: ctx, Action: r.URL.Path, AppName: p.client.name, Perms: missing})
			return
		}
	}
	em.mu.Lock()
	delete(em.pending, ctx)
	em.sweepLocked()
	code := "1.A" + randToken(40)
	em.codes[code] = &authCode{grantRecord: grantRecord{tenant: u.tenant, user: u, client: p.client, amr: p.amr, authTime: em.now(),
		expires: em.now().Add(10 * time.Minute), spa: p.spa}, redirect: p.redirect, challenge: p.challenge, method: p.method, nonce: p.nonce, scope: p.scope}
	em.mu.Unlock()
	if !p.sso && em.cfg.AutoLogin == "" {
		em.startSession(w, r, p)
	}
	em.log.InfoContext(r.Context(), "entra: user signed in", "client_id", p.client.clientID, "tid", u.tenant.id, "oid", u.oid, "sso", p.sso)
	em.redirect(w, r, p, url.Values{"code": {code}, "session_state": {guidFrom("session", u.oid)}})
}

// redirect sends parameters back to the client per response_mode.
func (em *Emulator) redirect(w http.ResponseWriter, r *http.Request, p *pendingAuth, v url.Values) {
	if p.state != "" {
		v.Set("state", p.state)
	}
	switch p.responseMode {
	case "form_post":
		hidden := map[string]string{}
		for k := range v {
			hidden[k] = v.Get(k)
		}
		em.render(w, http.StatusOK, page{Title: "Working...", Heading: "Signing you in…", Step: "post", Redirect: p.redirect, Hidden: hidden})
	case "fragment":
		http.Redirect(w, r, p.redirect+"#"+v.Encode(), http.StatusFound)
	default:
		sep := "?"
		if strings.Contains(p.redirect, "?") {
			sep = "&"
		}
		http.Redirect(w, r, p.redirect+sep+v.Encode(), http.StatusFound)
	}
}

func (em *Emulator) redirectError(w http.ResponseWriter, r *http.Request, p *pendingAuth, e *aadError) {
	b := em.errorBody(r, e)
	em.log.WarnContext(r.Context(), "entra: authorization refused", "client_id", p.client.clientID, "error", e.Err, "aadsts", e.Code, "trace_id", b.TraceID, "reason", e.Msg)
	v := url.Values{"error": {e.Err}, "error_description": {b.Description}, "error_uri": {b.ErrorURI}}
	if e.SubError != "" {
		v.Set("error_subcode", e.SubError)
	}
	em.redirect(w, r, p, v)
}

// errorPage renders an error that cannot go back to the client (unknown app, bad redirect).
func (em *Emulator) errorPage(w http.ResponseWriter, r *http.Request, e *aadError) {
	b := em.errorBody(r, e)
	em.log.WarnContext(r.Context(), "entra: authorization refused", "error", e.Err, "aadsts", e.Code, "trace_id", b.TraceID, "reason", e.Msg)
	em.render(w, http.StatusBadRequest, page{Title: "Sign in", Heading: "Sorry, but we're having trouble signing you in.",
		Error: fmt.Sprintf("AADSTS%d: %s", e.Code, e.Msg), Info: "Request Id: " + b.TraceID + " · Correlation Id: " + b.CorrelationID + " · Timestamp: " + b.Timestamp})
}

func (em *Emulator) handleLogout(w http.ResponseWriter, r *http.Request) {
	em.endSession(w, r)
	post := r.URL.Query().Get("post_logout_redirect_uri")
	if post != "" {
		for _, a := range em.dir.apps {
			if slices.Contains(a.redirectURIs(), post) {
				http.Redirect(w, r, post, http.StatusFound)
				return
			}
		}
	}
	em.render(w, http.StatusOK, page{Title: "Sign out", Heading: "You signed out of your account", Info: "It's a good idea to close all browser windows."})
}

func (em *Emulator) handleErrorPage(w http.ResponseWriter, r *http.Request) {
	code := r.URL.Query().Get("code")
	em.render(w, http.StatusOK, page{Title: "Error lookup", Heading: "AADSTS" + code,
		Info: "See docs/entra-emulator.md for what this emulator means by this code, and https://login.microsoftonline.com/error?code=" + code + " for Microsoft's description."})
}

func (em *Emulator) handleIndex(w http.ResponseWriter, r *http.Request) {
	var ts []string
	for _, t := range em.dir.tenants {
		ts = append(ts, t.id+" ("+strings.Join(t.domains, ", ")+")")
	}
	em.render(w, http.StatusOK, page{Title: "Entra ID emulator", Heading: "Entra ID emulator",
		Info: "Tenants: " + strings.Join(ts, "; ") + ". Authority: " + em.base(r) + "/{tenant}."})
}
