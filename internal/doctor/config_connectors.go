package doctor

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/aadsts"
	"github.com/mcpgate/mcpgate/internal/config"
)

// checkAuthConnector checks one authServer connector: the provider's discovery, the redirect
// URI mcpgate will send (the provider must have it registered) and the client secret.
func checkAuthConnector(ctx context.Context, r *Report, cfg *config.Config, cn config.AuthServerConnector, o Options) {
	did := StepConnector + "/" + cn.ID
	rid := StepConnectorRedirect + "/" + cn.ID
	sid := StepConnectorSecret + "/" + cn.ID
	issuer := cfg.BaseURL()
	if cfg.AuthServer.Issuer != "" {
		issuer = cfg.AuthServer.Issuer
	}
	redirect := strings.TrimRight(issuer, "/") + federatedCallback

	var authz, token, disc, tenant string
	if cn.Type == config.ConnectorEntra && cn.Entra != nil {
		authority := strings.TrimRight(cn.Entra.Authority, "/")
		if authority == "" {
			authority = "https://login.microsoftonline.com"
		}
		tenant = cn.Entra.Tenant
		disc = authority + "/" + tenant + "/v2.0/.well-known/openid-configuration"
	} else if cn.AuthorizationURL != "" && cn.TokenURL != "" && cn.JWKSURL != "" {
		authz, token = cn.AuthorizationURL, cn.TokenURL
	} else {
		disc = strings.TrimRight(cn.Issuer, "/") + "/.well-known/openid-configuration"
	}
	if disc != "" {
		b, err := fetch(ctx, o.http(), disc)
		var doc struct {
			AuthorizationEndpoint string `json:"authorization_endpoint"`
			TokenEndpoint         string `json:"token_endpoint"`
		}
		if err == nil {
			err = json.Unmarshal(b, &doc)
		}
		if err == nil && (doc.AuthorizationEndpoint == "" || doc.TokenEndpoint == "") {
			err = fmt.Errorf("it names no authorization_endpoint or token_endpoint")
		}
		if err != nil {
			fix := "check the connector's issuer and that the gateway host reaches it"
			if cn.Type == config.ConnectorEntra {
				fix = "check entra.tenant (the Directory (tenant) ID) and entra.authority, and that the gateway host reaches it"
			}
			r.fail(did, "connector "+cn.ID+": the provider's discovery "+disc+" does not answer: "+err.Error()+"; the login page's button for it fails", fix)
			r.skip("skipped: no discovery", rid, sid)
			return
		}
		authz, token = doc.AuthorizationEndpoint, doc.TokenEndpoint
		r.ok(did, "connector "+cn.ID+" ("+cn.Type+"): discovery "+disc+" answers")
	} else {
		r.ok(did, "connector "+cn.ID+" ("+cn.Type+"): endpoints configured, no discovery")
	}

	checkConnectorRedirect(ctx, r, rid, cn, authz, redirect, o)

	switch {
	case cn.ClientSecret == "" && cn.Type == config.ConnectorEntra:
		r.warn(sid, "connector "+cn.ID+" has no client secret: Entra answers AADSTS7000218 at the code exchange unless the redirect URI is on the Mobile and desktop platform with public client flows allowed",
			"create a client secret on app "+cn.ClientID+" (Certificates & secrets) and set clientSecret: ${MCPGATE_ENTRA_SECRET}")
	case cn.ClientSecret == "":
		r.ok(sid, "connector "+cn.ID+" is a public client (PKCE only, no secret): the provider must allow that for client "+cn.ClientID)
	default:
		scope := ""
		if cn.Type == config.ConnectorEntra {
			scope = cn.ClientID + "/.default"
			if t := strings.ToLower(tenant); t == "organizations" || t == "common" {
				if cn.Entra == nil || len(cn.Entra.AllowedTenants) == 0 {
					r.add(sid, StatusSkip, "connector "+cn.ID+": the client secret needs a tenant to be tested (entra.tenant is "+tenant+")", "")
					return
				}
				token = strings.Replace(token, "/"+tenant+"/", "/"+cn.Entra.AllowedTenants[0]+"/", 1)
			}
		}
		st, finding, fix, _ := probeClient(ctx, o, "connector "+cn.ID, token, cn.ClientID, cn.ClientSecret, false, scope)
		r.add(sid, st, finding, fix)
	}
}

// checkConnectorRedirect starts an authorization request with the redirect URI mcpgate
// sends, without a user, and reads whether the provider refuses it before its sign-in page.
func checkConnectorRedirect(ctx context.Context, r *Report, id string, cn config.AuthServerConnector, authz, redirect string, o Options) {
	sum := sha256.Sum256([]byte("mcpgate-doctor-probe-verifier-0123456789abcdef"))
	q := url.Values{"client_id": {cn.ClientID}, "response_type": {"code"}, "redirect_uri": {redirect},
		"scope": {"openid"}, "state": {"mcpgate-doctor"}, "nonce": {"mcpgate-doctor"},
		"code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"}}
	u := authz
	if strings.Contains(u, "?") {
		u += "&" + q.Encode()
	} else {
		u += "?" + q.Encode()
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		r.fail(id, "connector "+cn.ID+": the authorization endpoint "+authz+" is not a URL", "fix the connector's issuer or authorizationURL")
		return
	}
	hc := *o.http()
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := hc.Do(req)
	if err != nil {
		r.fail(id, "connector "+cn.ID+": the authorization endpoint "+authz+" is unreachable: "+err.Error(), "check that users' browsers and the gateway host reach the provider")
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<18))
	body := string(b)
	register := "register " + redirect + " as a redirect URI of client " + cn.ClientID + " at the provider"
	if cn.Type == config.ConnectorEntra {
		register = "add " + redirect + " to app " + cn.ClientID + "'s Web redirect URIs (Authentication > Add a platform > Web), exactly, scheme and path included"
	}
	if codes := aadsts.Parse(body); len(codes) > 0 {
		if codes[0] == 50011 {
			r.fail(id, "connector "+cn.ID+": Entra refuses the redirect URI mcpgate sends, "+redirect+" (AADSTS50011): every sign-in with this connector stops on Microsoft's error page", register)
			return
		}
		cause, fix := aadFix(tokenAnswer{Codes: codes}, register)
		r.fail(id, "connector "+cn.ID+": the provider refuses the sign-in request before its login page: "+cause, fix)
		return
	}
	if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && strings.HasPrefix(loc, redirect) {
		if lu, err := url.Parse(loc); err == nil && lu.Query().Get("error") != "" {
			r.fail(id, "connector "+cn.ID+": the provider answers the sign-in request with error "+lu.Query().Get("error")+": "+lu.Query().Get("error_description"), register)
			return
		}
	}
	if resp.StatusCode >= 400 {
		if strings.Contains(strings.ToLower(body), "redirect") {
			r.fail(id, fmt.Sprintf("connector %s: the provider refuses the sign-in request (HTTP %d) and names the redirect URI %s", cn.ID, resp.StatusCode, redirect), register)
			return
		}
		r.warn(id, fmt.Sprintf("connector %s: the provider answers the sign-in request with HTTP %d before its login page", cn.ID, resp.StatusCode), "open "+authz+" with client_id="+cn.ClientID+" in a browser and read the provider's error; "+register)
		return
	}
	r.ok(id, "connector "+cn.ID+": the provider accepts the redirect URI mcpgate sends, "+redirect+" (its sign-in page answers)")
}
