package upstream

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestExplain(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		kind   string
		status int
		says   []string
	}{
		{"missing connection", &NeedsUserAction{Provider: "gh", URL: "https://mcp.example.com/connections/gh/connect", Reason: "connection_missing", Message: "connect your GitHub account to mcpgate first"},
			outcomeUserAction, 200, []string{"Connect your GitHub account", "https://mcp.example.com/connections/gh/connect", "retry"}},
		{"consent", &ConsentRequired{App: "app-1", Scope: "api://files/.default"}, outcomeConsentRequired, 403, []string{"AADSTS65001: consent is missing for app app-1 scope api://files/.default", "Grant admin consent", "Authorized client applications", "knownClientApplications"}},
		{"claims", &ClaimsChallenge{Claims: `{"access_token":{}}`}, outcomeInsufficientClaims, 401, []string{"additional sign-in"}},
		{"idp down", &Failure{Reason: ReasonIdPUnreachable}, outcomeFailure, 503, []string{"unavailable", "Try again"}},
		{"refused", &Failure{Reason: ReasonExchangeRefused, Permanent: true, IdPError: "invalid_grant"}, outcomeFailure, 502, []string{"refused", "invalid_grant"}},
		{"config", &Failure{Reason: ReasonInvalidClient, Permanent: true}, outcomeFailure, 502, []string{"configuration problem", "invalid_client"}},
		{"anonymous", &Failure{Reason: ReasonNoPrincipal, Permanent: true}, outcomeFailure, 401, []string{"signed in"}},
		{"unknown", errors.New("boom"), outcomeFailure, 502, []string{"gateway log"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := explain("files", tt.err)
			if o.Kind != tt.kind || o.HTTPStatus != tt.status {
				t.Fatalf("outcome = %+v", o)
			}
			for _, s := range tt.says {
				if !strings.Contains(o.Message, s) {
					t.Errorf("message %q does not say %q", o.Message, s)
				}
			}
		})
	}
	o := explain("files", &NeedsUserAction{Provider: "gh", URL: "https://x/c", Reason: "connection_missing", Message: "m"})
	b, _ := json.Marshal(o.JSONRPCError())
	var e struct {
		Code int `json:"code"`
		Data struct {
			Elicitations []struct{ Mode, ElicitationID, URL string } `json:"elicitations"`
		} `json:"data"`
	}
	json.Unmarshal(b, &e)
	if e.Code != -32042 || len(e.Data.Elicitations) != 1 || e.Data.Elicitations[0].Mode != "url" || e.Data.Elicitations[0].URL != "https://x/c" || e.Data.Elicitations[0].ElicitationID == "" {
		t.Fatalf("JSON-RPC error = %s", b)
	}
	if o2 := explain("files", &NeedsUserAction{Provider: "gh", URL: "https://x/c", Reason: "connection_missing", Message: "m"}); o2.ElicitationID != o.ElicitationID {
		t.Fatal("elicitation id is not stable for the same connection")
	}
	if !strings.Contains(toJSON(o.ToolError()), "https://x/c") {
		t.Fatal("tool error lacks the URL")
	}
}

func toJSON(v any) string { b, _ := json.Marshal(v); return string(b) }
