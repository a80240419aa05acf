package entraemulator

import (
	"net/http"
	"net/url"
	"strings"
)

// handleMetadata serves the OpenID configuration. A tenant-specific document names the
// tenant GUID (even when asked by domain); common/organizations publish the {tenantid}
// issuer template.
func (em *Emulator) handleMetadata(version int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		seg := r.PathValue("tenant")
		t, ok := em.dir.tenant(seg)
		if !ok {
			em.writeError(w, r, unknownTenant(seg))
			return
		}
		base := em.base(r)
		pathTenant, issTenant, region := strings.ToLower(seg), "{tenantid}", any(nil)
		if t != nil {
			pathTenant, issTenant, region = t.id, t.id, "EU"
		}
		host := strings.TrimPrefix(strings.TrimPrefix(base, "https://"), "http://")
		m := map[string]any{
			"response_modes_supported":              []string{"query", "fragment", "form_post"},
			"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
			"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
			"subject_types_supported":               []string{"pairwise"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
			"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
			"code_challenge_methods_supported":      []string{"plain", "S256"},
			"http_logout_supported":                 true,
			"frontchannel_logout_supported":         true,
			"request_uri_parameter_supported":       false,
			"tenant_region_scope":                   region,
			"cloud_instance_name":                   "microsoftonline.com",
			"cloud_graph_host_name":                 "graph.windows.net",
			"msgraph_host":                          "graph.microsoft.com",
			"rbac_url":                              "https://pas.windows.net",
			"instance_discovery_host":               host,
		}
		if version == 2 {
			m["issuer"] = base + "/" + issTenant + "/v2.0"
			m["authorization_endpoint"] = base + "/" + pathTenant + "/oauth2/v2.0/authorize"
			m["token_endpoint"] = base + "/" + pathTenant + "/oauth2/v2.0/token"
			m["device_authorization_endpoint"] = base + "/" + pathTenant + "/oauth2/v2.0/devicecode"
			m["end_session_endpoint"] = base + "/" + pathTenant + "/oauth2/v2.0/logout"
			m["jwks_uri"] = base + "/" + pathTenant + "/discovery/v2.0/keys"
			m["kerberos_endpoint"] = base + "/" + pathTenant + "/kerberos"
			m["userinfo_endpoint"] = "https://graph.microsoft.com/oidc/userinfo"
			m["claims_supported"] = []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
				"msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"}
		} else {
			m["issuer"] = "https://sts.windows.net/" + issTenant + "/"
			m["authorization_endpoint"] = base + "/" + pathTenant + "/oauth2/authorize"
			m["token_endpoint"] = base + "/" + pathTenant + "/oauth2/token"
			m["device_authorization_endpoint"] = base + "/" + pathTenant + "/oauth2/devicecode"
			m["end_session_endpoint"] = base + "/" + pathTenant + "/oauth2/logout"
			m["check_session_iframe"] = base + "/" + pathTenant + "/oauth2/checksession"
			m["jwks_uri"] = base + "/common/discovery/keys"
			m["userinfo_endpoint"] = base + "/" + pathTenant + "/openid/userinfo"
			m["claims_supported"] = []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name",
				"msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "amr", "nonce", "email", "given_name", "family_name", "nickname"}
			m["microsoft_multi_refresh_token"] = true
		}
		w.Header().Set("Access-Control-Allow-Origin", "*")
		writeJSON(w, http.StatusOK, m)
	}
}

// handleKeys serves the JWKS. Each key carries Entra's non-standard issuer member: the
// tenant's issuer, or the {tenantid} template for common/organizations.
func (em *Emulator) handleKeys(version int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		seg := r.PathValue("tenant")
		t, ok := em.dir.tenant(seg)
		if !ok {
			em.writeError(w, r, unknownTenant(seg))
			return
		}
		tid := "{tenantid}"
		if t != nil {
			tid = t.id
		}
		iss := em.base(r) + "/" + tid + "/v2.0"
		if version == 1 {
			iss = "https://sts.windows.net/" + tid + "/"
		}
		w.Header().Set("Access-Control-Allow-Origin", "*")
		writeJSON(w, http.StatusOK, map[string]any{"keys": []any{em.sig.jwk(iss)}})
	}
}

// handleInstanceDiscovery answers MSAL's instance discovery (/common/discovery/instance)
// with this host as the only alias, so that MSAL works even with instance discovery on.
func (em *Emulator) handleInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	base := em.base(r)
	u, _ := url.Parse(base)
	ae := r.URL.Query().Get("authorization_endpoint")
	tenant := "common"
	if au, err := url.Parse(ae); err == nil {
		segs := strings.Split(strings.Trim(strings.TrimPrefix(au.Path, u.Path), "/"), "/")
		if segs[0] != "" {
			tenant = segs[0]
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": base + "/" + tenant + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []any{map[string]any{
			"preferred_network": u.Host, "preferred_cache": u.Host, "aliases": []string{u.Host},
		}},
	})
}
