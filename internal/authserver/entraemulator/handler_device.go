package entraemulator

import (
	"crypto/rand"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"
)

// deviceGrant is one device authorization (RFC 8628 as Entra does it).
type deviceGrant struct {
	deviceCode string
	userCode   string
	tenant     *tenant
	client     *app
	scope      string
	sr         *scopeRequest
	expires    time.Time
	done       *grantRecord
	declined   *aadError
}

func (em *Emulator) handleDeviceCode(version int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			em.writeFormError(w, r, err)
			return
		}
		seg := r.PathValue("tenant")
		t, ok := em.dir.tenant(seg)
		if !ok {
			em.writeError(w, r, unknownTenant(seg))
			return
		}
		id := r.PostForm.Get("client_id")
		client := em.dir.appByID[strings.ToLower(id)]
		if client == nil || client.home == nil || (t != nil && !client.inTenant(t)) {
			em.writeError(w, r, newErr(400, "unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s'.", id, tenantDisplay(t)))
			return
		}
		scope := r.PostForm.Get("scope")
		if version == 1 && r.PostForm.Get("resource") != "" {
			scope = strings.TrimRight(r.PostForm.Get("resource"), "/") + "/.default openid offline_access"
		}
		sr, e := em.dir.parseScopes(scope, "", t, false)
		if e != nil {
			em.writeError(w, r, e)
			return
		}
		g := &deviceGrant{deviceCode: "DAQABAAEAAA" + randToken(40), userCode: userCode(), tenant: t, client: client,
			scope: scope, sr: sr, expires: em.now().Add(em.cfg.DeviceCodeLifetime.D())}
		em.mu.Lock()
		em.sweepLocked()
		em.devices[g.deviceCode] = g
		em.mu.Unlock()
		uri := em.base(r) + "/devicelogin"
		n := int(em.cfg.DeviceCodeLifetime.D().Seconds())
		writeJSON(w, http.StatusOK, map[string]any{
			"user_code": g.userCode, "device_code": g.deviceCode, "verification_uri": uri,
			"expires_in": n, "interval": 5,
			"message": "To sign in, use a web browser to open the page " + uri + " and enter the code " + g.userCode + " to authenticate.",
		})
	}
}

func userCode() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 9)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

func (em *Emulator) handleDeviceLoginPage(w http.ResponseWriter, r *http.Request) {
	em.render(w, http.StatusOK, page{Title: "Enter code", Heading: "Enter code", Sub: "Enter the code displayed on your app or device, then sign in.",
		Step: "device", Action: r.URL.Path, UserCode: r.URL.Query().Get("otc")})
}

// handleDeviceLoginSubmit signs the user in for a device code. Submitting the form is the
// user's consent to the permissions the device asked for (shown on the page).
func (em *Emulator) handleDeviceLoginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	_ = r.ParseForm()
	f := r.PostForm
	code := strings.ToUpper(strings.TrimSpace(f.Get("code")))
	again := page{Title: "Enter code", Heading: "Enter code", Step: "device", Action: r.URL.Path, UserCode: code, Login: f.Get("login")}
	em.mu.Lock()
	var g *deviceGrant
	for _, d := range em.devices {
		if subtle.ConstantTimeCompare([]byte(d.userCode), []byte(code)) == 1 {
			g = d
		}
	}
	em.mu.Unlock()
	if g == nil || em.now().After(g.expires) || g.done != nil {
		again.Error = "That code didn't work. Check the code and try again. (AADSTS70020)"
		em.render(w, http.StatusOK, again)
		return
	}
	u := em.findUser(g.tenant, f.Get("login"))
	if u == nil || subtle.ConstantTimeCompare([]byte(u.cfg.Password), []byte(f.Get("passwd"))) != 1 {
		again.Error = "Your account or password is incorrect. (AADSTS50126)"
		em.render(w, http.StatusOK, again)
		return
	}
	res := g.sr.res
	if res == nil {
		res = em.dir.appByID[GraphAppID]
	}
	amr := []string{"pwd"}
	if len(u.tenant.caRequired(u, res)) > 0 {
		if f.Get("otc") == "" || subtle.ConstantTimeCompare([]byte(f.Get("otc")), []byte(u.cfg.MFACode)) != 1 {
			again.Hidden = map[string]string{"mfa": "1"}
			again.Info = "Your organization requires additional verification: enter the code from your authenticator app."
			em.render(w, http.StatusOK, again)
			return
		}
		amr = append(amr, "mfa")
	}
	values := g.sr.values
	if g.sr.dflt {
		values = nil
		if req := g.client.required[res.clientID]; req != nil {
			values = req.Scopes
		}
	}
	var declined *aadError
	for _, v := range values {
		if em.dir.consented(u, g.client, res, v) || g.client == res {
			continue
		}
		if res.needsAdmin(v) && !u.tenant.adminConsent[g.client.clientID] {
			declined = consentRequired(g.client, res)
			break
		}
		if !slices.Contains([]string{".default"}, v) {
			em.dir.grantUserConsent(u.tenant.id, u.oid, g.client.clientID, res.resourceID()+"/"+v)
		}
	}
	em.mu.Lock()
	if declined != nil {
		g.declined = declined
	} else {
		g.done = &grantRecord{tenant: u.tenant, user: u, client: g.client, amr: amr, authTime: em.now(), expires: g.expires}
	}
	em.mu.Unlock()
	if declined != nil {
		again.Step, again.Error = "", "AADSTS65001: an administrator must consent to "+g.client.name+" first."
		em.render(w, http.StatusOK, again)
		return
	}
	em.render(w, http.StatusOK, page{Title: "Signed in", Heading: g.client.name, Sub: u.upn,
		Info: "You have signed in to the " + g.client.name + " application on your device. You may now close this window."})
}

func (em *Emulator) grantDevice(r *http.Request, t *tenant) (map[string]any, *aadError) {
	client, acr, e := em.authClient(r, t, false)
	if e != nil {
		return nil, e
	}
	dc := r.PostForm.Get("device_code")
	if dc == "" {
		dc = r.PostForm.Get("code") // v1 name
	}
	em.mu.Lock()
	g := em.devices[dc]
	em.mu.Unlock()
	switch {
	case g == nil || g.client != client:
		return nil, invalidGrant(70000, "Provided grant is invalid or malformed: unknown device_code.")
	case em.now().After(g.expires):
		return nil, newErr(400, "expired_token", 70020, "The provided value for the input parameter 'device_code' is not valid. This device code has expired.")
	case g.declined != nil:
		return nil, g.declined
	case g.done == nil:
		return nil, newErr(400, "authorization_pending", 70016, "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
	}
	em.mu.Lock()
	delete(em.devices, dc)
	em.mu.Unlock()
	d := g.done
	return em.issueForUser(r, principal{tenant: d.tenant, user: d.user, client: client, clientAuth: acr, amr: d.amr, authTime: d.authTime}, g.sr, "")
}
