package entraemulator

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDiscovery(t *testing.T) {
	e := newEnv(t)
	base := e.srv.URL
	cases := []struct {
		name, path         string
		wantStatus         int
		issuer, jwks, tokn string
		keyIssuer          string
		keysPath           string
	}{
		{"v2 by GUID", "/" + contosoID + "/v2.0/.well-known/openid-configuration", 200,
			base + "/" + contosoID + "/v2.0", base + "/" + contosoID + "/discovery/v2.0/keys", base + "/" + contosoID + "/oauth2/v2.0/token",
			base + "/" + contosoID + "/v2.0", "/" + contosoID + "/discovery/v2.0/keys"},
		{"v2 by domain names the GUID", "/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration", 200,
			base + "/" + contosoID + "/v2.0", base + "/" + contosoID + "/discovery/v2.0/keys", base + "/" + contosoID + "/oauth2/v2.0/token",
			base + "/" + contosoID + "/v2.0", "/contoso.com/discovery/v2.0/keys"},
		{"v2 common has the tenantid template", "/common/v2.0/.well-known/openid-configuration", 200,
			base + "/{tenantid}/v2.0", base + "/common/discovery/v2.0/keys", base + "/common/oauth2/v2.0/token",
			base + "/{tenantid}/v2.0", "/common/discovery/v2.0/keys"},
		{"v2 organizations", "/organizations/v2.0/.well-known/openid-configuration", 200,
			base + "/{tenantid}/v2.0", base + "/organizations/discovery/v2.0/keys", base + "/organizations/oauth2/v2.0/token",
			base + "/{tenantid}/v2.0", "/organizations/discovery/v2.0/keys"},
		{"v1 by GUID", "/" + contosoID + "/.well-known/openid-configuration", 200,
			"https://sts.windows.net/" + contosoID + "/", base + "/common/discovery/keys", base + "/" + contosoID + "/oauth2/token",
			"https://sts.windows.net/" + contosoID + "/", "/" + contosoID + "/discovery/keys"},
		{"v1 common", "/common/.well-known/openid-configuration", 200,
			"https://sts.windows.net/{tenantid}/", base + "/common/discovery/keys", base + "/common/oauth2/token",
			"https://sts.windows.net/{tenantid}/", "/common/discovery/keys"},
		{"unknown tenant", "/nowhere.example/v2.0/.well-known/openid-configuration", 400, "", "", "", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st, body, _ := e.get(t, c.path)
			if st != c.wantStatus {
				t.Fatalf("status %d, want %d: %s", st, c.wantStatus, body)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(body), &m); err != nil {
				t.Fatal(err)
			}
			if c.wantStatus != 200 {
				if !strings.HasPrefix(str(m, "error_description"), "AADSTS90002:") {
					t.Fatalf("unknown tenant: %v", m)
				}
				return
			}
			if str(m, "issuer") != c.issuer || str(m, "jwks_uri") != c.jwks || str(m, "token_endpoint") != c.tokn {
				t.Fatalf("metadata: issuer %q jwks %q token %q", m["issuer"], m["jwks_uri"], m["token_endpoint"])
			}
			_, kb, _ := e.get(t, c.keysPath)
			var ks struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal([]byte(kb), &ks); err != nil || len(ks.Keys) != 1 {
				t.Fatalf("keys: %v %s", err, kb)
			}
			k := ks.Keys[0]
			if str(k, "issuer") != c.keyIssuer || str(k, "kid") != e.em.KeyID() || str(k, "x5t") != e.em.KeyID() || str(k, "kty") != "RSA" {
				t.Fatalf("key: %v", k)
			}
			if x5c, _ := k["x5c"].([]any); len(x5c) != 1 {
				t.Fatalf("key has no x5c: %v", k)
			}
		})
	}
	t.Run("instance discovery", func(t *testing.T) {
		st, body, _ := e.get(t, "/common/discovery/instance?api-version=1.1&authorization_endpoint="+base+"/"+contosoID+"/oauth2/v2.0/authorize")
		var m map[string]any
		_ = json.Unmarshal([]byte(body), &m)
		if st != 200 || str(m, "tenant_discovery_endpoint") != base+"/"+contosoID+"/v2.0/.well-known/openid-configuration" {
			t.Fatalf("%d %s", st, body)
		}
	})
}
