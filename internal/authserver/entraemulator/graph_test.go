package entraemulator

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestGraphGetMemberObjects: the emulator's Microsoft-Graph-like getMemberObjects answers
// the overage lookup for a Graph token and refuses other tokens the way Graph does.
func TestGraphGetMemberObjects(t *testing.T) {
	e := newEnv(t)
	graphTok := str(e.login(t, contosoID, clientID, "carol@contoso.com", "carol-pw", "User.Read", nil), "access_token")
	apiTok := str(e.login(t, contosoID, clientID, "carol@contoso.com", "carol-pw", "api://mcp-api/access_as_user", nil), "access_token")
	aliceGraph := str(e.login(t, contosoID, clientID, "alice@contoso.com", "alice-pw", "User.Read", nil), "access_token")

	// A token shaped like a Graph token but signed by another key.
	other, _ := rsa.GenerateKey(rand.Reader, 2048)
	forged, _ := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{"aud": GraphResource, "iss": V1Issuer(contosoID), "tid": contosoID,
		"oid": carolOID, "scp": "User.Read", "exp": time.Now().Add(time.Hour).Unix()}).SignedString(other)

	carolGroups := 250
	tests := []struct {
		name, path, token, body string
		status                  int
		code                    string // Graph error code
		groups                  int
	}{
		{name: "me with User.Read", path: "/v1.0/me/getMemberObjects", token: graphTok, body: `{"securityEnabledOnly":true}`, status: 200, groups: carolGroups},
		{name: "own id with User.Read", path: "/v1.0/users/" + carolOID + "/getMemberObjects", token: graphTok, body: `{"securityEnabledOnly":false}`, status: 200, groups: carolGroups},
		{name: "alice's own groups", path: "/v1.0/me/getMemberObjects", token: aliceGraph, body: `{"securityEnabledOnly":true}`, status: 200, groups: 2},
		{name: "another user needs GroupMember.Read.All", path: "/v1.0/users/" + aliceOID + "/getMemberObjects", token: graphTok, body: `{}`, status: 403, code: "Authorization_RequestDenied"},
		{name: "no token", path: "/v1.0/me/getMemberObjects", body: `{}`, status: 401, code: "InvalidAuthenticationToken"},
		{name: "wrong audience (mcp-api token)", path: "/v1.0/me/getMemberObjects", token: apiTok, body: `{}`, status: 401, code: "InvalidAuthenticationToken"},
		{name: "foreign signature", path: "/v1.0/me/getMemberObjects", token: forged, body: `{}`, status: 401, code: "InvalidAuthenticationToken"},
		{name: "no body", path: "/v1.0/me/getMemberObjects", token: graphTok, status: 400, code: "BadRequest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, e.srv.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			if tt.token != "" {
				req.Header.Set("Authorization", "Bearer "+tt.token)
			}
			resp, err := e.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			var m struct {
				Value []string `json:"value"`
				Error struct {
					Code    string `json:"code"`
					Message string `json:"message"`
				} `json:"error"`
			}
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatalf("not JSON: %d %s", resp.StatusCode, raw)
			}
			if resp.StatusCode != tt.status || m.Error.Code != tt.code {
				t.Fatalf("got %d %q (%s), want %d %q", resp.StatusCode, m.Error.Code, raw, tt.status, tt.code)
			}
			if tt.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
			if tt.code != "" && m.Error.Message == "" {
				t.Error("error without a message")
			}
			if len(m.Value) != tt.groups {
				t.Fatalf("%d groups, want %d", len(m.Value), tt.groups)
			}
			if tt.groups == 2 && !slices.Contains(m.Value, "9a000000-0000-4000-8000-000000000002") {
				t.Fatalf("alice's groups %v lack MCP Admins", m.Value)
			}
		})
	}
}
