package federation_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/config"
)

// bearer adds a fixed Authorization header (a client that got its token elsewhere).
type bearer struct {
	token string
	next  http.RoundTripper
}

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// TestDirectEntra is issue 8's direct mode: the protected resource metadata names Entra (the
// emulator) as the authorization server, a client with a pre-registered id gets an Entra
// token for mcpgate's app itself, the gateway validates it with the authn Entra preset, and
// obo exchanges the caller's own token (no federation connector involved). v1 and v2 tokens.
func TestDirectEntra(t *testing.T) {
	for _, version := range []int{2, 1} {
		t.Run("v"+string(rune('0'+version)), func(t *testing.T) {
			logs := &syncBuffer{}
			front := newLazyServer(t)
			_, idp := emulator(t, front.URL, logs, func(d *config.Entra) {
				for i := range d.Apps {
					if d.Apps[i].Name == "mcpgate" {
						d.Apps[i].AccessTokenAcceptedVersion = version
					}
				}
			})
			reg, err := authn.NewRegistry(context.Background(), []authn.Issuer{{Name: "entra", Entra: &authn.EntraIssuer{Tenant: contoso, ClientID: weatherApp, AppIDURI: "api://weather", Authority: idp}}}, authn.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { reg.Close() })
			wv, _ := reg.Verifier([]string{"entra"}, nil)
			e := newMCPGate(t, front, "testdata/mcpgate-entra-direct.yaml", map[string]string{"MCPGATE_ENTRA_SECRET": secretVal, "ENTRA_AUTHORITY": idp,
				"WEATHER_URL": weatherServer(t, wv)}, logs, nil)

			// PRM points clients at Entra, not at mcpgate.
			resp, err := http.Get(front.URL + "/.well-known/oauth-protected-resource/weather/mcp")
			if err != nil {
				t.Fatal(err)
			}
			var prm struct {
				AuthorizationServers []string `json:"authorization_servers"`
			}
			json.NewDecoder(resp.Body).Decode(&prm)
			resp.Body.Close()
			if want := idp + "/" + contoso + "/v2.0"; !slices.Contains(prm.AuthorizationServers, want) {
				t.Fatalf("PRM authorization_servers = %v, want %s", prm.AuthorizationServers, want)
			}

			// The client (VS Code's pre-registered id) gets a token for mcpgate's API at Entra.
			tr, err := http.PostForm(idp+"/"+contoso+"/oauth2/v2.0/token", url.Values{"grant_type": {"password"}, "client_id": {vscodeApp},
				"username": {"alice@contoso.onmicrosoft.com"}, "password": {"alice-password"}, "scope": {"api://mcpgate/access_as_user"}})
			if err != nil {
				t.Fatal(err)
			}
			var tok struct {
				AccessToken string `json:"access_token"`
				Error       string `json:"error_description"`
			}
			json.NewDecoder(tr.Body).Decode(&tok)
			tr.Body.Close()
			if tok.AccessToken == "" {
				t.Fatalf("no Entra token: %s", tok.Error)
			}
			sess, err := mcp.NewClient(&mcp.Implementation{Name: "vscode", Version: "1"}, nil).Connect(context.Background(),
				&mcp.StreamableClientTransport{Endpoint: e.resource, DisableStandaloneSSE: true,
					HTTPClient: &http.Client{Transport: bearer{tok.AccessToken, http.DefaultTransport}}}, nil)
			if err != nil {
				t.Fatalf("connect: %v", err)
			}
			defer sess.Close()
			text := callWhoami(t, sess)
			if !strings.Contains(text, "aud="+weatherApp+" ") || !strings.Contains(text, "oid="+aliceOID) || !strings.Contains(text, "tid="+contoso) {
				t.Fatalf("upstream saw %q, want an OBO token for the Weather API for alice", text)
			}
			// A token for another API is refused at the gateway.
			other, _ := http.PostForm(idp+"/"+contoso+"/oauth2/v2.0/token", url.Values{"grant_type": {"password"}, "client_id": {mcpgateApp},
				"client_secret": {secretVal}, "username": {"alice@contoso.onmicrosoft.com"}, "password": {"alice-password"}, "scope": {"api://weather/access_as_user"}})
			json.NewDecoder(other.Body).Decode(&tok)
			other.Body.Close()
			req, _ := http.NewRequest(http.MethodPost, e.resource, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
			req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			r2, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			r2.Body.Close()
			if r2.StatusCode != http.StatusUnauthorized {
				t.Fatalf("a Weather API token at mcpgate's route: %d, want 401", r2.StatusCode)
			}
		})
	}
}
