package app_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// TestPagesInChromium: the landing page, sign-in (keyboard only) and consent for a route
// with a policy and on-behalf-of, axe-core on both, the admin console refused to a
// non-admin and allowed to an admin, and the simulator explaining an allow and a deny
// with the rule names the gateway's audit records. MCPGATE_UPDATE_SCREENSHOTS=1 writes
// docs/screenshots.
func TestPagesInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	nodeDir := testutil.NodeModules(t)
	chromium := testutil.Chromium(t)
	up := upstream(t)
	key := make([]byte, 32)
	rand.Read(key)
	t.Setenv("TEST_PAGES_KEYS", "k1:"+base64.StdEncoding.EncodeToString(key))
	auditPath := filepath.Join(t.TempDir(), "audit.jsonl")
	hash, err := authserver.HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(t.TempDir(), "mcpgate.db")
	base := serve(t, `
listen: $ADDR
publicURL: http://$ADDR
store: {sqlite: {path: `+dbPath+`}}
log: {level: warn}
audit: {store: true, file: {path: `+auditPath+`}}
authServer:
  allowInsecureHTTP: true
  branding: {name: Contoso AI gateway}
  adminGroups: [gateway-admins]
  clients:
    - {id: notes-app, name: Notes App, redirectURIs: ["http://127.0.0.1:9/cb"]}
  users:
    - {username: alice, name: Alice Liddell, email: alice@example.com, passwordHash: "${HASH}", groups: [finance, gateway-admins]}
    - {username: bob, name: Bob Builder, email: bob@example.com, passwordHash: "${HASH}", groups: [eng]}
upstreamCredentials:
  secrets: {keysEnv: TEST_PAGES_KEYS}
  connections:
    - {name: tasks, displayName: Contoso Tasks, authorizeURL: "http://127.0.0.1:9/authorize", tokenURL: "http://127.0.0.1:9/token", clientId: c, clientSecret: s, scopes: [tasks.read]}
routes:
  - name: crm
    path: /crm/mcp
    upstream: {url: `+up+`}
    upstreamAuth: {obo: {tenant: contoso.example, clientId: gw, clientSecret: s, scope: "api://crm/.default"}}
    auditArguments: {}
    policy:
      default: deny
      rules:
        - {name: big-refunds, deny: 'mcp.tool == "refund" && mcp.arguments.amount > 1000'}
        - {name: finance-refunds, allow: 'mcp.tool == "refund" && "finance" in user.groups'}
        - {name: everyone-reads, allow: 'mcp.tool.startsWith("get_")'}
  - {name: docs, path: /docs/mcp, upstream: {url: `+up+`}}
  - {name: legacy, path: /legacy/mcp, upstream: {url: "http://127.0.0.1:9/mcp"}}
`, map[string]string{"HASH": hash})

	// A client that registered itself, for the console to delete.
	regResp, err := http.Post(base+"/register", "application/json", strings.NewReader(`{"client_name":"Stale Agent","redirect_uris":["http://127.0.0.1:7/cb"],"token_endpoint_auth_method":"none"}`))
	if err != nil {
		t.Fatal(err)
	}
	var reg struct {
		ClientID string `json:"client_id"`
	}
	json.NewDecoder(regResp.Body).Decode(&reg)
	regResp.Body.Close()
	if reg.ClientID == "" {
		t.Fatalf("registration: %d", regResp.StatusCode)
	}

	// Connections to show in the console (alice) and in My account (bob). The pages show
	// and revoke them; their sealed tokens are never opened.
	st, err := store.OpenSQLite(context.Background(), dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, c := range []store.Connection{
		{Subject: "config:alice", Provider: "tasks", Version: 1, Status: "active", Scope: "tasks.read", Sealed: "sealed", CreatedAt: now, UpdatedAt: now},
		{Subject: "config:bob", Provider: "legacy", Version: 1, Status: "active", Scope: "read", Sealed: "sealed", CreatedAt: now, UpdatedAt: now},
	} {
		if err := st.CompareAndSwapConnection(context.Background(), 0, c); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()

	verifier := "v3rifier-v3rifier-v3rifier-v3rifier-v3rifier-0123"
	sum := sha256.Sum256([]byte(verifier))
	authorize := base + "/authorize?" + url.Values{"response_type": {"code"}, "client_id": {"notes-app"}, "redirect_uri": {"http://127.0.0.1:9/cb"},
		"state": {"s"}, "code_challenge": {base64.RawURLEncoding.EncodeToString(sum[:])}, "code_challenge_method": {"S256"},
		"resource": {base + "/crm/mcp"}, "scope": {"openid offline_access"}}.Encode()
	allow := url.Values{"user": {"alice"}, "client": {"notes-app"}, "route": {"crm"}, "method": {"tools/call"}, "tool": {"refund"}, "args": {`{"amount": 20}`}}.Encode()
	deny := url.Values{"user": {"alice"}, "client": {"notes-app"}, "route": {"crm"}, "method": {"tools/call"}, "tool": {"refund"}, "args": {`{"amount": 5000}`}}.Encode()

	type violation struct{ ID, Impact, Help string }
	var res struct {
		Connections, ConnectionsURL                                    string
		ClientsBefore, Deleted                                         string
		ClientRowsAfter                                                []string
		ForgedStatus                                                   int
		Landing, Consent, Admin, NonAdmin, NonAdminTitle, LandingTitle string
		LoginAxe, ConsentAxe                                           []violation
		AllowDecision, DenyDecision                                    string
		AllowDeciding, DenyDeciding                                    []string
		AllowReasons, DenyReasons                                      []string
		AllowRules, DenyRules                                          [][2]string
		ConsoleErrors                                                  []string

		DeniedCallback, KeyRemoved, Leaked                          string
		KeysAfterRemove, JWKSAfterRemove                            []string
		ConsentTabOrder                                             []string
		AliceToken, AliceRefreshAfter, BobRefreshAfter, JWKSKeys    int
		DenyCall, BadCursor, Users, User, ConnRevoked, GrantRevoked string
		AuditRows, AuditRules, WhyDeciding, ConnRowsAfter           []string
		AuditReason, WhyDecision, KeysRotated                       string
		SignInRowsAfter                                             int
		KeysBefore, KeysAfter                                       []string
		NonAdminAudit, Disabled, DisabledRow, EnabledRow            string
		DisabledAuthorize, Page1, Page2, Page2Older                 int
		NonAdminRotate                                              int
		Account, AccountDisconnected, AccountRevoked                string
		AfterSignOutURL, AccountAfterSignOut                        string
		AdminAxe, AuditAxe, UsersAxe, UserAxe, KeysAxe, AccountAxe  []violation
	}
	testutil.RunNodeDriver(t, nodeDir, 120*time.Second, []string{"VERIFIER=" + verifier, "CHROMIUM=" + chromium}, &res,
		"browser_pages.cjs", base, authorize, allow, deny, testutil.ScreenshotDir(t), reg.ClientID)
	has := func(what, s string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(s, w) {
				t.Errorf("%s lacks %q: %s", what, w, s)
			}
		}
	}
	has("landing", res.Landing, "Contoso AI gateway", "MCP gateway", base+"/crm/mcp", base+"/docs/mcp", "claude mcp add", "Sign in")
	has("consent", res.Consent, "Notes App", "Who runs it", "configured by this server's administrator", "Will return you to", "127.0.0.1:9",
		"It will call these MCP servers as you", "crm", "rules big-refunds, finance-refunds, everyone-reads", "what no rule allows is refused",
		"Acts as you upstream:", "on-behalf-of", "To take this access back", "Alice Liddell <alice@example.com>")
	for name, vs := range map[string][]violation{"sign-in": res.LoginAxe, "consent": res.ConsentAxe, "console": res.AdminAxe, "audit": res.AuditAxe,
		"users": res.UsersAxe, "user": res.UserAxe, "keys": res.KeysAxe, "my account": res.AccountAxe} {
		for _, v := range vs {
			if v.Impact == "serious" || v.Impact == "critical" {
				t.Errorf("axe-core on %s: %s (%s): %s", name, v.ID, v.Impact, v.Help)
			}
		}
	}
	has("admin", res.Admin, "Admin console", "Policy simulator", "on-behalf-of (Entra)", "Signed in as Alice Liddell")
	has("landing", res.Landing, "My connections")
	// The connections page sends an anonymous visitor to sign in and back, and names the user.
	if res.ConnectionsURL != base+"/connections/" {
		t.Errorf("after signing in from the connections page, at %s", res.ConnectionsURL)
	}
	has("connections", res.Connections, "My connections", "Signed in as Bob Builder (bob@example.com)", "Contoso Tasks", "Not connected", "Connect")
	if strings.Contains(res.Connections, "config:bob") {
		t.Errorf("the connections page shows the subject id: %s", res.Connections)
	}
	has("non-admin", res.NonAdmin, "Not allowed", "gateway-admins")
	if strings.Contains(res.NonAdmin, "Policy simulator") {
		t.Errorf("a non-admin sees the console: %s", res.NonAdmin)
	}
	has("console clients", res.ClientsBefore, "Stale Agent", "itself (dynamic registration)", "Notes App", "in the configuration")
	if res.ForgedStatus != 403 {
		t.Errorf("a delete without the form token answered %d, want 403", res.ForgedStatus)
	}
	has("after disable", res.Disabled, "Client "+reg.ClientID+" was disabled")
	if res.DisabledRow != "true" || res.EnabledRow != "" || res.DisabledAuthorize != http.StatusBadRequest {
		t.Errorf("disable/enable: row %q then %q, authorize while disabled answered %d", res.DisabledRow, res.EnabledRow, res.DisabledAuthorize)
	}
	waitAudit(t, auditPath, `"method":"admin/clients/disable"`)
	has("after delete", res.Deleted, "Client "+reg.ClientID+" was deleted")
	if slices.Contains(res.ClientRowsAfter, reg.ClientID) || !slices.Contains(res.ClientRowsAfter, "notes-app") {
		t.Errorf("client rows after delete: %v", res.ClientRowsAfter)
	}
	// The deletion is audited with the admin's identity.
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(auditPath)
		if strings.Contains(string(b), `"method":"admin/clients/delete"`) && strings.Contains(string(b), `"resource":"`+reg.ClientID+`"`) && strings.Contains(string(b), `"email":"alice@example.com"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit event for the deletion: %s", b)
		}
		time.Sleep(100 * time.Millisecond)
	}
	outcome := func(rows [][2]string, name string) string {
		for _, r := range rows {
			if r[0] == name {
				return r[1]
			}
		}
		return ""
	}
	if !slices.Equal(res.AllowDeciding, []string{"finance-refunds"}) || !slices.Equal(res.DenyDeciding, []string{"big-refunds"}) {
		t.Errorf("deciding rules: allow %v, deny %v", res.AllowDeciding, res.DenyDeciding)
	}
	if res.AllowDecision != "allow" || !slices.Equal(res.AllowReasons, []string{"allowed by rule finance-refunds"}) ||
		outcome(res.AllowRules, "finance-refunds") != "matched" || outcome(res.AllowRules, "big-refunds") != "no match" {
		t.Errorf("simulated allow: %s %v %v", res.AllowDecision, res.AllowReasons, res.AllowRules)
	}
	if res.DenyDecision != "deny" || !slices.Equal(res.DenyReasons, []string{"denied by rule big-refunds"}) ||
		outcome(res.DenyRules, "big-refunds") != "matched" || outcome(res.DenyRules, "finance-refunds") != "not reached" {
		t.Errorf("simulated deny: %s %v %v", res.DenyDecision, res.DenyReasons, res.DenyRules)
	}
	checkConsole(t, res.ConsentTabOrder, res.AliceToken, res.DenyCall)
	if !strings.Contains(res.DeniedCallback, "error=access_denied") {
		t.Errorf("Deny by keyboard sent the browser to %q", res.DeniedCallback)
	}
	// Audit trail: the denied call, why, and the simulator agreeing with the gateway.
	if len(res.AuditRows) == 0 || !strings.Contains(res.AuditRows[0], "refund") || !strings.Contains(res.AuditRows[0], "alice@example.com") {
		t.Errorf("audit rows (deny, crm): %v", res.AuditRows)
	}
	if res.AuditReason != "denied by rule big-refunds" || !slices.Equal(res.AuditRules, []string{"big-refunds"}) {
		t.Errorf("why: %q %v", res.AuditReason, res.AuditRules)
	}
	if res.WhyDecision != "deny" || !slices.Equal(res.WhyDeciding, res.AuditRules) {
		t.Errorf("the simulator from the audit event decided %s by %v, the gateway by %v", res.WhyDecision, res.WhyDeciding, res.AuditRules)
	}
	if res.Page1 != 50 || res.Page2 < 1 || res.Page1+res.Page2 > 56 || res.Page2Older != 0 {
		t.Errorf("audit pages: %d then %d events (56 denied calls), older link on the last page: %d", res.Page1, res.Page2, res.Page2Older)
	}
	has("bad cursor", res.BadCursor, "Cannot filter", "the page cursor is not a time")
	has("users", res.Users, "Alice Liddell", "Bob Builder", "gateway-admins", "(admin console)", "Recent sign-ins", "Notes App (notes-app)")
	has("user", res.User, "Alice Liddell", "Applications allowed", "Notes App (notes-app)", "Sign-ins", "Connections", "Contoso Tasks", "tasks.read")
	has("connection revoked", res.ConnRevoked, "The connection to Contoso Tasks of Alice Liddell (alice@example.com) was revoked")
	if len(res.ConnRowsAfter) != 0 {
		t.Errorf("connections after revoke: %v", res.ConnRowsAfter)
	}
	has("grant revoked", res.GrantRevoked, "Access of Notes App (notes-app) for Alice Liddell (alice@example.com) was revoked")
	if res.SignInRowsAfter != 0 || res.AliceRefreshAfter != 400 {
		t.Errorf("after revoking the grant: %d sign-ins listed, refresh answered %d", res.SignInRowsAfter, res.AliceRefreshAfter)
	}
	if !slices.Equal(res.KeysBefore, []string{"signing"}) || !slices.Equal(res.KeysAfter, []string{"next", "signing"}) || res.JWKSKeys != 2 {
		t.Errorf("keys: before %v, after %v, %d published", res.KeysBefore, res.KeysAfter, res.JWKSKeys)
	}
	has("rotated", res.KeysRotated, "A new signing key")
	has("removed", res.KeyRemoved, "Signing key "+res.Leaked+" was removed")
	if len(res.KeysAfterRemove) != 1 || !strings.HasSuffix(res.KeysAfterRemove[0], ":signing") || strings.HasPrefix(res.KeysAfterRemove[0], res.Leaked) ||
		len(res.JWKSAfterRemove) != 1 || res.JWKSAfterRemove[0] == res.Leaked {
		t.Errorf("after removing %s: keys %v, published %v", res.Leaked, res.KeysAfterRemove, res.JWKSAfterRemove)
	}
	waitAudit(t, auditPath, `"method":"admin/keys/remove"`)
	has("non-admin audit", res.NonAdminAudit, "Not allowed")
	if res.NonAdminRotate != 403 {
		t.Errorf("a non-admin's rotate answered %d", res.NonAdminRotate)
	}
	// My account.
	has("my account", res.Account, "My account", "Applications you allowed", "Notes App (notes-app)", "Where you are signed in", "Sign out everywhere", "legacy")
	has("disconnected", res.AccountDisconnected, "The connection to legacy was revoked")
	has("app revoked", res.AccountRevoked, "Access of Notes App (notes-app) was revoked")
	for what, page := range map[string]string{"my account": res.Account, "disconnected": res.AccountDisconnected, "app revoked": res.AccountRevoked} {
		if strings.Contains(page, "config:bob") {
			t.Errorf("%s shows the subject id: %s", what, page)
		}
	}
	if res.BobRefreshAfter != 400 {
		t.Errorf("bob's refresh after revoking: %d", res.BobRefreshAfter)
	}
	if !strings.HasPrefix(res.AfterSignOutURL, base+"/?") || strings.Contains(res.AfterSignOutURL, "config") {
		t.Errorf("after sign out everywhere at %s", res.AfterSignOutURL)
	}
	if !strings.Contains(res.AccountAfterSignOut, "/login") {
		t.Errorf("My account after signing out everywhere: %s, want the sign-in page", res.AccountAfterSignOut)
	}
	// Every console action is in the audit trail with the admin's identity.
	for _, m := range []string{"admin/connections/revoke", "admin/grants/revoke", "admin/keys/rotate", "account/apps/revoke", "account/signout-everywhere"} {
		waitAudit(t, auditPath, `"method":"`+m+`"`)
	}
	waitAudit(t, auditPath, `"method":"admin/keys/rotate","decision":"deny"`)
	if len(res.ConsoleErrors) > 0 {
		t.Errorf("console errors: %v", res.ConsoleErrors)
	}
}

// checkConsole: consent by keyboard only reached Deny then Allow, Allow issued tokens, and
// the policy denied the call.
func checkConsole(t *testing.T, tabs []string, tokenStatus int, call string) {
	t.Helper()
	deny, allow := slices.Index(tabs, "BUTTON:Deny"), slices.Index(tabs, "BUTTON:Allow")
	if deny < 0 || allow != len(tabs)-1 || deny > allow {
		t.Errorf("Tab order on the consent page: %v", tabs)
	}
	if tokenStatus != 200 {
		t.Errorf("code exchange after keyboard consent: %d", tokenStatus)
	}
	if !strings.Contains(call, "big-refunds") && !strings.Contains(call, "denied") {
		t.Errorf("the refund call: %s", call)
	}
}

func waitAudit(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("no audit event with %s", want)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
