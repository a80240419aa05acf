package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/mcpgate/mcpgate/internal/app"
	"github.com/mcpgate/mcpgate/internal/app/apptest"
	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/config"
	mcpupstream "github.com/mcpgate/mcpgate/internal/upstream"
)

const virtualYAML = `
issuers: [{name: corp, issuer: https://idp.test, jwksURL: "https://idp.test/jwks"}]
routes:
  - name: desk
    path: /desk/mcp
    auth: {issuers: [corp], audiences: [mcpgate-test]}
    upstreams:
      - {name: bank, url: "BANK", prefix: bank_}
      - name: broker
        url: "BROKER"
        prefix: broker_
        upstreamAuth: {static: {header: X-Api-Key, value: broker-key}}
    policy:
      rules:
        - {name: no-broker-reset, deny: 'mcp.tool == "broker_admin_reset"'}
        - {name: everyone, allow: 'true'}
`

// An aggregating route assembled from YAML as the application does: policy sees the
// client-visible names, audit records them, each upstream gets its own credential.
func TestVirtualRouteFromConfig(t *testing.T) {
	p := apptest.NewIDP(t)
	bank, broker := apptest.NewUpstream(t), apptest.NewUpstream(t)
	var keyed, unkeyed atomic.Int32
	target, _ := url.Parse(broker.JSONURL)
	rp := httputil.NewSingleHostReverseProxy(target)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != "broker-key" {
			unkeyed.Add(1)
			http.Error(w, "no key", http.StatusUnauthorized)
			return
		}
		keyed.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	y := strings.NewReplacer("BANK", bank.JSONURL, "BROKER", front.URL).Replace(virtualYAML)
	cfg, _, err := config.Parse("v.yaml", []byte(y), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	set, err := mcpupstream.Build(app.UpstreamOptions(cfg), mcpupstream.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := apptest.NewHarness(t, y, apptest.Options{Reg: p.Reg, Creds: set})
	c := apptest.NewClient(t, h.URL+"/desk/mcp", p.Token(t, "alice", nil, "vscode", "mcp"))

	names := c.ListTools(1)
	for _, want := range []string{"bank_transfer", "bank_admin_reset", "broker_transfer"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools %v lack %s", names, want)
		}
	}
	if keyed.Load() == 0 || unkeyed.Load() != 0 {
		t.Errorf("broker requests with its key %d, without %d", keyed.Load(), unkeyed.Load())
	}

	_, msg := c.CallTool(2, "bank_admin_reset", "")
	if text, _ := apptest.ResultText(msg); !strings.Contains(text, "admin_reset") {
		t.Errorf("bank_admin_reset = %v", msg)
	}
	_, msg = c.CallTool(3, "broker_admin_reset", "")
	if _, m := apptest.ErrorOf(msg); !strings.Contains(m, "denied by policy no-broker-reset") {
		t.Errorf("broker_admin_reset = %v, want denied by policy", msg)
	}
	if slices.ContainsFunc(broker.Called(), func(s string) bool { return strings.HasPrefix(s, "admin_reset") }) {
		t.Error("the denied call reached the broker")
	}
	if !slices.ContainsFunc(bank.Called(), func(s string) bool { return strings.HasPrefix(s, "admin_reset") }) {
		t.Errorf("bank calls %v: the call went out under another name", bank.Called())
	}
	h.WaitAudit(t, func(e audit.Event) bool {
		return e.Tool == "broker_admin_reset" && e.Decision == "deny" && slices.Equal(e.Rules, []string{"no-broker-reset"}) && e.Upstream == ""
	})
	h.WaitAudit(t, func(e audit.Event) bool { // which upstream answered
		return e.Tool == "bank_admin_reset" && e.Decision == "allow" && e.Upstream == "bank"
	})
}

// The application itself mounts an aggregating route (app.New, not the test harness).
func TestVirtualRouteInApp(t *testing.T) {
	bank, broker := apptest.NewUpstream(t), apptest.NewUpstream(t)
	cfg, _, err := config.Parse("mcpgate.yaml", []byte(`
listen: 127.0.0.1:0
log: {level: warn}
routes:
  - name: desk
    path: /desk/mcp
    auth: {mode: permissive}
    upstreams:
      - {name: bank, url: "`+bank.JSONURL+`", prefix: bank_}
      - {name: broker, url: "`+broker.SSEURL+`", renames: {balance: broker_balance}, prefix: broker_}
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, app.Options{AuditOut: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	c := apptest.NewClient(t, srv.URL+"/desk/mcp", "")
	names := c.ListTools(1)
	for _, want := range []string{"bank_balance", "broker_balance", "broker_transfer"} {
		if !slices.Contains(names, want) {
			t.Errorf("tools %v lack %s", names, want)
		}
	}
	_, msg := c.CallTool(2, "broker_balance", "")
	if text, _ := apptest.ResultText(msg); !strings.Contains(text, "balance") {
		t.Errorf("broker_balance = %v", msg)
	}
	if !slices.ContainsFunc(broker.Called(), func(s string) bool { return strings.HasPrefix(s, "balance") }) {
		t.Errorf("broker calls %v", broker.Called())
	}
}

// A command's environment is PATH, passEnv and env only; an upstream's credential is
// registered under route/upstream.
func TestVirtualOptionsEnvironment(t *testing.T) {
	cfg, _, err := config.Parse("v.yaml", []byte(`
routes:
  - name: desk
    path: /desk/mcp
    auth: {mode: permissive}
    upstreams:
      - {name: files, command: go, passEnv: [HOME, UNSET_ONE], env: {LEVEL: warn}, identityEnv: {subject: SUB}, prefix: f_}
      - {name: api, url: "http://127.0.0.1:9/mcp", prefix: a_, upstreamAuth: {static: {value: k}}}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"PATH": "/bin", "HOME": "/home/gw", "SECRET": "never"}
	set, err := mcpupstream.Build(app.UpstreamOptions(cfg), mcpupstream.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o := app.VirtualOptions(cfg, 0, set, nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if got := o.Upstreams[0].Env; !slices.Equal(got, []string{"HOME=/home/gw", "LEVEL=warn", "PATH=/bin"}) {
		t.Errorf("env = %v", got)
	}
	if o.Upstreams[0].IdentityEnv.Subject != "SUB" || o.Upstreams[0].Credentials != nil {
		t.Errorf("files = %+v", o.Upstreams[0])
	}
	if o.Upstreams[1].Credentials == nil || o.Upstreams[1].Env != nil {
		t.Errorf("api = %+v", o.Upstreams[1])
	}
	if _, ok := set.For(app.VirtualCredentialRoute("desk", "api")); !ok {
		t.Error("no provider for desk/api")
	}
}
