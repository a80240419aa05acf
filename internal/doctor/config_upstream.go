package doctor

import (
	"context"
	"net/url"
	"slices"
	"strings"

	"github.com/mcpgate/mcpgate/internal/config"
)

// checkUpstreamAuth checks the credential a route obtains for its upstream: the token
// endpoint answers and the client's credentials are accepted; for On-Behalf-Of, the target
// scope's resource exists and (against the configuration's own Entra emulator, whose
// registrations and tenants the doctor reads) the scope is exposed and consented.
func checkUpstreamAuth(ctx context.Context, r *Report, cfg *config.Config, rt config.Route, o Options) {
	ua := rt.UpstreamAuth
	if ua == nil {
		return
	}
	tid := StepUpstreamToken + "/" + rt.Name
	switch {
	case ua.OBO != nil:
		checkOBO(ctx, r, cfg, rt.Name, ua.OBO, o)
	case ua.TokenExchange != nil:
		te := ua.TokenExchange
		if te.ClientID == "" {
			r.ok(tid, "tokenExchange: no client authentication configured; "+te.TokenURL+" is used as is")
			return
		}
		st, finding, fix, _ := probeClient(ctx, o, "tokenExchange", te.TokenURL, te.ClientID, te.ClientSecret, te.ClientAuthMethod != "client_secret_post", "")
		r.add(tid, st, finding, fix)
	case ua.ClientCredentials != nil:
		cc := ua.ClientCredentials
		if cc.Certificate != nil {
			r.add(tid, StatusSkip, "clientCredentials: certificate credentials are not tested by the doctor", "")
			return
		}
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {cc.ClientID}, "client_secret": {cc.ClientSecret}}
		if len(cc.Scopes) > 0 {
			form.Set("scope", strings.Join(cc.Scopes, " "))
		}
		for _, res := range cc.Resource {
			form.Add("resource", res)
		}
		a, err := postToken(ctx, o.http(), cc.TokenURL, form, cc.ClientAuthMethod != "client_secret_post")
		switch {
		case err != nil:
			r.fail(tid, "clientCredentials: the token endpoint "+cc.TokenURL+" is unreachable: "+err.Error(), "check tokenURL and that the gateway host reaches it")
		case a.Status == 200 && a.AccessToken != "":
			r.ok(tid, "clientCredentials: "+cc.TokenURL+" issues client "+cc.ClientID+" a token for "+orNone(form.Get("scope")))
		default:
			cause, fix := aadFix(a, "fix clientId, clientSecret, scopes or resource so that the token endpoint accepts the request")
			r.fail(tid, "clientCredentials: "+cc.TokenURL+" refuses client "+cc.ClientID+": "+cause+"; every call on route "+rt.Name+" fails", fix)
		}
	case ua.Connection != nil:
		var p *config.ConnectionProvider
		if cfg.UpstreamCredentials != nil {
			for i := range cfg.UpstreamCredentials.Connections {
				if cfg.UpstreamCredentials.Connections[i].Name == ua.Connection.Provider {
					p = &cfg.UpstreamCredentials.Connections[i]
				}
			}
		}
		if p == nil {
			return // config.Load refuses it
		}
		st, finding, fix, _ := probeClient(ctx, o, "connection "+p.Name, p.TokenURL, p.ClientID, p.ClientSecret, p.ClientAuthMethod == "client_secret_basic", "")
		r.add(tid, st, finding, fix)
	}
}

// checkOBO checks an On-Behalf-Of upstream credential.
func checkOBO(ctx context.Context, r *Report, cfg *config.Config, route string, ob *config.OBOAuth, o Options) {
	tid := StepUpstreamToken + "/" + route
	sid := StepUpstreamScope + "/" + route
	cid := StepUpstreamConsent + "/" + route
	tokenURL := ob.TokenURL
	if tokenURL == "" {
		tokenURL = entraTokenURL(ob.Authority, ob.Tenant)
	}
	fields := strings.Fields(ob.Scope)
	resource, values := "", []string{}
	for _, f := range fields {
		if i := strings.LastIndex(f, "/"); i > 0 {
			resource, values = f[:i], append(values, f[i+1:])
		}
	}
	if resource == "" {
		r.fail(sid, "obo.scope "+orNone(ob.Scope)+" names no resource: On-Behalf-Of needs api://<api>/<scope> or api://<api>/.default",
			"set obo.scope to the downstream API's App ID URI and scope, e.g. api://weather-api/.default")
		return
	}
	var ans tokenAnswer
	if ob.Certificate != nil {
		r.add(tid, StatusSkip, "obo: certificate credentials are not tested by the doctor", "")
	} else {
		var st Status
		var finding, fix string
		st, finding, fix, ans = probeClient(ctx, o, "obo", tokenURL, ob.ClientID, ob.ClientSecret, false, resource+"/.default")
		r.add(tid, st, finding, fix)
		if st == StatusFail {
			r.skip("skipped: the client's credentials failed", sid, cid)
			return
		}
	}
	e, tenantKey := entraEmulator(cfg, tokenURL)
	if e == nil {
		switch {
		case ans.aadCode() == 500011:
			r.fail(sid, "obo: the resource "+resource+" of obo.scope is not in the tenant (AADSTS500011): every call on route "+route+" fails at the exchange",
				"fix obo.scope (the API's Application ID URI, Expose an API), or create the API's service principal in the tenant (admin consent)")
		case ans.Status == 200:
			r.ok(sid, "obo: the resource "+resource+" exists in the tenant (its scope values are read only from the Entra emulator's registrations; run mcpgate doctor entra --app … --api … for a real tenant)")
		default:
			r.add(sid, StatusSkip, "obo: the scope is read only from the Entra emulator's registrations; run mcpgate doctor entra --app … --api … with the two apps' manifests", "")
		}
		r.add(cid, StatusSkip, "obo: admin consent is read only from the Entra emulator's tenant; for a real tenant look at Enterprise applications > "+ob.ClientID+" > Permissions", "")
		return
	}

	res := emulatorApp(e, resource)
	mid := emulatorApp(e, ob.ClientID)
	if res == nil {
		r.fail(sid, "obo: no app registration of the Entra emulator has the Application ID URI "+resource+" (AADSTS500011 at every exchange)",
			"add identifierUris: ["+resource+"] to the downstream API's registration, or fix obo.scope")
		r.skip("skipped: no downstream API", cid)
		return
	}
	var required []string
	if mid != nil {
		for _, ra := range mid.RequiredResourceAccess {
			if emulatorApp(e, ra.Resource) == res {
				required = append(required, ra.Scopes...)
			}
		}
	}
	if slices.Contains(values, ".default") {
		values = slices.DeleteFunc(values, func(v string) bool { return v == ".default" })
		values = append(values, required...)
		if len(values) == 0 {
			r.fail(sid, "obo.scope asks for "+resource+"/.default, but app "+orNone(ob.ClientID)+"'s API permissions list no delegated permission of "+res.Name+": the token would carry no scope",
				"add the permissions to the app's requiredResourceAccess (API permissions > Add a permission > My APIs > "+res.Name+") and grant admin consent")
			r.skip("skipped: no scope", cid)
			return
		}
	}
	var exposed, missing []string
	for _, s := range res.Scopes {
		exposed = append(exposed, s.Value)
	}
	for _, v := range values {
		if !slices.Contains(exposed, v) {
			missing = append(missing, v)
		}
	}
	if len(missing) > 0 {
		r.fail(sid, "obo: "+res.Name+" ("+resource+") does not expose "+strings.Join(missing, ", ")+" (it exposes "+orNone(strings.Join(exposed, ", "))+"): every exchange answers AADSTS70011 (invalid_scope: the scope does not exist on the resource)",
			"add the scope under Expose an API of "+res.Name+" (scopes: - value: "+missing[0]+"), or change obo.scope to one it exposes")
		r.skip("skipped: the scope is not exposed", cid)
		return
	}
	r.ok(sid, "obo: "+res.Name+" ("+resource+") exposes "+strings.Join(values, ", "))

	if mid == nil {
		r.add(cid, StatusSkip, "obo: app "+ob.ClientID+" is not one of the emulator's registrations", "")
		return
	}
	for _, pa := range res.PreAuthorizedApplications {
		if strings.EqualFold(pa.AppID, mid.ClientID) && !slices.ContainsFunc(values, func(v string) bool { return !slices.Contains(pa.Scopes, v) }) {
			r.ok(cid, "obo: "+res.Name+" pre-authorizes "+mid.Name+" for "+strings.Join(values, ", ")+" (no consent needed)")
			return
		}
	}
	t := emulatorTenant(e, tenantKey)
	var unlisted []string
	for _, v := range values {
		if !slices.Contains(required, v) {
			unlisted = append(unlisted, v)
		}
	}
	tenantName := tenantKey
	if t != nil {
		tenantName = t.ID
	}
	switch {
	case len(unlisted) > 0:
		r.fail(cid, "obo: "+mid.Name+"'s API permissions do not list "+res.Name+" "+strings.Join(unlisted, ", ")+": admin consent cannot cover it and OBO answers AADSTS65001 (consent_required) for every user",
			"add "+strings.Join(unlisted, ", ")+" of "+res.Name+" to "+mid.Name+"'s API permissions (requiredResourceAccess) and grant admin consent for the tenant")
	case t != nil && adminConsented(t, mid):
		r.ok(cid, "obo: an administrator of tenant "+tenantName+" consented for "+mid.Name+" to "+res.Name+" "+strings.Join(values, ", "))
	case len(mid.KnownClientApplications) > 0:
		r.warn(cid, "obo: no admin consent for "+mid.Name+" in tenant "+tenantName+": OBO works only for users who consented through a known client application ("+strings.Join(mid.KnownClientApplications, ", ")+")",
			"grant admin consent for the tenant on "+mid.Name+" (API permissions > Grant admin consent; adminConsent in the emulator)")
	default:
		r.fail(cid, "obo: no admin consent for "+mid.Name+" in tenant "+tenantName+": OBO answers AADSTS65001 (consent_required) for every user who has not consented to "+res.Name+", and the gateway has no page to ask them",
			"grant admin consent for the tenant on "+mid.Name+" (API permissions > Grant admin consent for <tenant>; adminConsent: ["+mid.Name+"] in the emulator), or pre-authorize "+mid.Name+" on "+res.Name+" (Expose an API > Authorized client applications)")
	}
}
