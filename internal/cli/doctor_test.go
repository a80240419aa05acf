package cli

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// doctorServer is an MCP server whose authorization server does not advertise S256.
func doctorServer(t *testing.T) string {
	t.Helper()
	var base string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/mcp":
			w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="`+base+`/.well-known/oauth-protected-resource/mcp", scope="mcp.read"`)
			w.WriteHeader(http.StatusUnauthorized)
		case "/.well-known/oauth-protected-resource/mcp":
			json.NewEncoder(w).Encode(map[string]any{"resource": base + "/mcp", "authorization_servers": []string{base}})
		case "/.well-known/oauth-authorization-server":
			json.NewEncoder(w).Encode(map[string]any{"issuer": base, "authorization_endpoint": base + "/authorize",
				"token_endpoint": base + "/token", "registration_endpoint": base + "/register", "jwks_uri": base + "/keys"})
		case "/keys":
			w.Write([]byte(`{"keys":[]}`))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	base = srv.URL
	return base
}

func runDoctor(stdin string, args ...string) (string, error) {
	var out bytes.Buffer
	root := NewRoot(strings.NewReader(stdin), &out, &out)
	root.SetArgs(append([]string{"doctor"}, args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestDoctorCommand(t *testing.T) {
	base := doctorServer(t)

	out, err := runDoctor("", base+"/mcp")
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("a failed check must exit 1: %v\n%s", err, out)
	}
	if !strings.Contains(out, "✗ pkce") || !strings.Contains(out, "fix: advertise code_challenge_methods_supported") {
		t.Errorf("human output:\n%s", out)
	}

	out, _ = runDoctor("", base+"/mcp", "--json")
	var steps []struct{ ID, Status, Finding, Fix string }
	if err := json.Unmarshal([]byte(out), &steps); err != nil || len(steps) == 0 {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	for _, s := range steps {
		if s.ID == "pkce" && (s.Status != "fail" || s.Fix == "") {
			t.Errorf("pkce step in JSON: %+v", s)
		}
	}
	if !strings.Contains(out, `"fix": ""`) {
		t.Errorf("every step has a fix member, empty when ok:\n%s", out)
	}
}

func TestDoctorTokenNeverPrintsTheToken(t *testing.T) {
	base := doctorServer(t)
	enc := base64.RawURLEncoding.EncodeToString
	tok := enc([]byte(`{"alg":"RS256","kid":"k1","typ":"at+jwt"}`)) + "." +
		enc([]byte(`{"iss":"`+base+`","aud":"`+base+`/mcp","exp":1,"scope":"mcp.read"}`)) + ".c2lnbmF0dXJlLXNlY3JldA"
	out, err := runDoctor(tok, "token", "--url", base+"/mcp")
	var ee exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("an expired token must exit 1: %v\n%s", err, out)
	}
	if !strings.Contains(out, "✗ token-expiry") || !strings.Contains(out, "✗ token-signature") {
		t.Errorf("expected expiry and unknown key findings:\n%s", out)
	}
	for _, part := range strings.Split(tok, ".") {
		if strings.Contains(out, part) {
			t.Fatalf("the output repeats part of the token:\n%s", out)
		}
	}
	if _, err := runDoctor("", "token", "--url", base+"/mcp"); err == nil || !strings.Contains(err.Error(), "no token on stdin") {
		t.Fatalf("empty stdin: %v", err)
	}
}

func TestDoctorAADSTSCommand(t *testing.T) {
	out, err := runDoctor("", "aadsts", "AADSTS65001")
	if err != nil || !strings.Contains(out, "AADSTS65001 (invalid_grant)") || !strings.Contains(out, "admin consent") {
		t.Fatalf("aadsts 65001: %v\n%s", err, out)
	}
	out, err = runDoctor(`{"error":"invalid_request","error_description":"AADSTS9010010: The resource parameter provided in the request doesn't match with the requested scopes.","error_codes":[9010010]}`, "aadsts")
	if err != nil || !strings.Contains(out, "identifierUris") {
		t.Fatalf("pasted body: %v\n%s", err, out)
	}
	if _, err := runDoctor("", "aadsts", "12345678"); err == nil {
		t.Error("an unknown code must exit non-zero")
	}
	out, err = runDoctor("", "aadsts", "--all")
	if err != nil || strings.Count(out, "\nAADSTS") < 40 {
		t.Fatalf("--all: %v\n%s", err, out)
	}
}
