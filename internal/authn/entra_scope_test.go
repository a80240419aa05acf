package authn

import "testing"

func TestAuthorizationServerForms(t *testing.T) {
	const tid = "7a1e5f00-0000-4000-8000-00000000c0de"
	cases := []struct {
		name string
		is   Issuer
		want string
	}{
		{"preset", Issuer{Entra: &EntraIssuer{Tenant: tid}}, "https://login.microsoftonline.com/" + tid + "/v2.0"},
		{"preset on the emulator", Issuer{Entra: &EntraIssuer{Tenant: tid, Authority: "http://127.0.0.1:1/entra/"}}, "http://127.0.0.1:1/entra/" + tid + "/v2.0"},
		{"plain v1 issuer: never sts.windows.net", Issuer{Issuer: "https://sts.windows.net/" + tid + "/"}, "https://login.microsoftonline.com/" + tid + "/v2.0"},
		{"plain v1 issuer, keys on the emulator", Issuer{Issuer: "https://sts.windows.net/" + tid + "/", JWKSURL: "http://127.0.0.1:1/entra/" + tid + "/discovery/keys"}, "http://127.0.0.1:1/entra/" + tid + "/v2.0"},
		{"plain v2 issuer", Issuer{Issuer: "https://login.microsoftonline.com/" + tid + "/v2.0"}, "https://login.microsoftonline.com/" + tid + "/v2.0"},
		{"other issuer", Issuer{Issuer: "https://idp.example.com"}, "https://idp.example.com"},
	}
	for _, c := range cases {
		if got := AuthorizationServer(c.is); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestEntraScopePrefix(t *testing.T) {
	const tid = "7a1e5f00-0000-4000-8000-00000000c0de"
	const app = "6e5d1a7a-0000-4000-8000-0000000000a1"
	cases := []struct {
		name      string
		is        Issuer
		audiences []string
		want      string
		entra     bool
	}{
		{"preset appIdUri", Issuer{Entra: &EntraIssuer{Tenant: tid, ClientID: app, AppIDURI: "api://weather/"}}, nil, "api://weather", true},
		{"preset clientId only", Issuer{Entra: &EntraIssuer{Tenant: tid, ClientID: app}}, nil, app, true},
		{"plain v1 with an api:// audience", Issuer{Issuer: "https://sts.windows.net/" + tid + "/"}, []string{"https://mcp.example.com/x", "api://weather"}, "api://weather", true},
		{"plain v2 with a GUID audience", Issuer{Issuer: "https://login.microsoftonline.com/" + tid + "/v2.0", Audiences: []string{app}}, nil, app, true},
		{"not Entra", Issuer{Issuer: "https://idp.example.com"}, []string{"api://x"}, "", false},
	}
	for _, c := range cases {
		got, ok := EntraScopePrefix(c.is, c.audiences)
		if got != c.want || ok != c.entra {
			t.Errorf("%s: %q %v, want %q %v", c.name, got, ok, c.want, c.entra)
		}
	}
	for in, want := range map[string]string{"mcp_access": "api://w/mcp_access", "openid": "openid", "api://o/x": "api://o/x", "offline_access": "offline_access"} {
		if got := QualifyEntraScope("api://w", in); got != want {
			t.Errorf("QualifyEntraScope(%q) = %q, want %q", in, got, want)
		}
	}
}
