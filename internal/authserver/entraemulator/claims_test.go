package entraemulator

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testutil"
)

func TestClaimsStepUp(t *testing.T) {
	for _, c := range []struct {
		claims string
		want   bool
	}{
		{"", false},
		{"not json", false},
		{`{"id_token":{"auth_time":{"essential":true}}}`, false},
		{`{"id_token":{"login_hint":null,"signin_state":null}}`, false},
		{`{"access_token":{"xms_cc":{"values":["cp1"]}}}`, false},
		{`{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`, true},
		{`{"access_token":{"capolids":{"essential":true,"values":["x"]}}}`, true},
		{`{"id_token":{"auth_time":null},"access_token":{"xms_cc":{"values":["cp1"]},"acrs":{"essential":true,"values":["c2"]}}}`, true},
	} {
		if got := claimsStepUp(c.claims); got != c.want {
			t.Errorf("claimsStepUp(%s) = %v, want %v", c.claims, got, c.want)
		}
	}
}

// signInSteps opens an authorization URL in a fresh browser (cookie jar) and signs in on
// the emulator's pages, answering MFA and consent, and returns the pages it saw and the
// final redirect.
func (e *env) signInSteps(t testing.TB, authURL, user, password string) (steps []string, landed string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	hc := *e.hc
	hc.Jar = jar
	resp, err := hc.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusFound {
			return steps, resp.Header.Get("Location")
		}
		body := string(b)
		m := ctxRE.FindStringSubmatch(body)
		if m == nil {
			t.Fatalf("no form after %v: %s", steps, body)
		}
		form := url.Values{"ctx": {m[1]}}
		switch {
		case strings.Contains(body, `name="otc"`):
			steps = append(steps, "mfa")
			form.Set("otc", mfaCodeFor(user))
		case strings.Contains(body, `value="accept"`):
			steps = append(steps, "consent")
			form.Set("consent", "accept")
		default:
			steps = append(steps, "password")
			form.Set("login", user)
			form.Set("passwd", password)
		}
		u, _ := url.Parse(authURL)
		if resp, err = hc.PostForm(u.Scheme+"://"+u.Host+u.Path, form); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("sign-in did not finish: %v", steps)
	return nil, ""
}

func writeCA(t testing.TB, e *env, path string) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
}

// runMSALNode runs testdata/msal_node.mjs with the cases and returns its results by name.
func runMSALNode(t *testing.T, e *env, cases []nodeCase) map[string]nodeResult {
	t.Helper()
	nodeDir := testutil.NodeModules(t)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeCA(t, e, ca)
	in, _ := json.Marshal(map[string]any{"nodeModules": nodeDir, "host": strings.TrimPrefix(e.srv.URL, "https://"), "cases": cases})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "msal_node.mjs"))
	cmd.Stdin = bytes.NewReader(in)
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+ca)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, stderr.String())
	}
	var results []nodeResult
	if err := json.Unmarshal(out, &results); err != nil {
		t.Fatalf("node output: %v %s", err, out)
	}
	m := map[string]nodeResult{}
	for _, r := range results {
		m[r.Name] = r
	}
	return m
}

// TestMSALNodeNoStepUp: msal-node's authorization URLs — plain, with client capabilities
// (claims xms_cc under access_token) and with non-essential id_token claims — sign in with
// the password only; an acrs claims challenge asks for MFA, and the token records it.
func TestMSALNodeNoStepUp(t *testing.T) {
	e := newEnv(t)
	authority := e.srv.URL + "/" + contosoID
	scopes := []string{"api://mcp-api/access_as_user"}
	cases := []nodeCase{
		{Name: "plain", Flow: "authurl", Authority: authority, ClientID: webAppID, Secret: "web-secret", Redirect: redirectURI, Scopes: scopes},
		{Name: "capabilities", Flow: "authurl", Authority: authority, ClientID: webAppID, Secret: "web-secret", Redirect: redirectURI, Scopes: scopes, Caps: []string{"cp1"}},
		{Name: "id_token claims", Flow: "authurl", Authority: authority, ClientID: webAppID, Secret: "web-secret", Redirect: redirectURI, Scopes: scopes,
			Claims: `{"id_token":{"auth_time":{"essential":false},"signin_state":null}}`},
		{Name: "acrs challenge", Flow: "authurl", Authority: authority, ClientID: webAppID, Secret: "web-secret", Redirect: redirectURI, Scopes: scopes, Caps: []string{"cp1"},
			Claims: `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`},
	}
	res := runMSALNode(t, e, cases)
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			r := res[c.Name]
			if !r.OK || r.URL == "" {
				t.Fatalf("msal-node: %+v", r)
			}
			u, _ := url.Parse(r.URL)
			if c.Name != "plain" && u.Query().Get("claims") == "" {
				t.Fatalf("msal-node sent no claims: %s", r.URL)
			}
			steps, landed := e.signInSteps(t, r.URL, "alice@contoso.com", "alice-pw")
			steps = slices.DeleteFunc(steps, func(s string) bool { return s == "consent" })
			want := []string{"password"}
			if c.Name == "acrs challenge" {
				want = []string{"password", "mfa"}
			}
			if !slices.Equal(steps, want) {
				t.Fatalf("pages %v, want %v (claims %s)", steps, want, u.Query().Get("claims"))
			}
			if lu, _ := url.Parse(landed); lu == nil || lu.Query().Get("code") == "" {
				t.Fatalf("no code: %s", landed)
			}
		})
	}
}
