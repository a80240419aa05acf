package authserver

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// TestStoreErrorsNotLeaked runs the server on PostgreSQL as a role of its own, then makes
// the database refuse that role (NOLOGIN, sessions terminated): real store errors, which
// name the user, host, port and database. /token, /register, /authorize and /userinfo
// must answer with a correlation id only, and the log must hold the real error under it.
func TestStoreErrorsNotLeaked(t *testing.T) {
	dsn := testutil.PostgresDSN(t)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	role := "mcpgate_fail_" + strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(randomToken(6)))
	for _, q := range []string{`CREATE ROLE ` + role + ` LOGIN`, `CREATE SCHEMA ` + role + ` AUTHORIZATION ` + role} {
		if _, err := admin.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, role)
		admin.Exec(`DROP SCHEMA ` + role + ` CASCADE`)
		admin.Exec(`DROP ROLE ` + role)
	})
	u, _ := url.Parse(dsn)
	u.User = url.User(role)
	q := u.Query()
	q.Set("search_path", role)
	u.RawQuery = q.Encode()
	st, err := store.OpenPostgres(context.Background(), u.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()

	logs, withLogs := captureLogs(t)
	redirect := "http://127.0.0.1:5555/cb"
	env := newTestEnv(t, func(o *Options) {
		o.Store = st
		withLogs(o)
		o.Clients = []StaticClient{{ID: "static-app", RedirectURIs: []string{redirect}}}
	})
	dcr := env.register(redirect)
	tokens := env.codeFlow(dcr, redirect)

	// The database goes away for this role.
	if _, err := admin.Exec(`ALTER ROLE ` + role + ` NOLOGIN`); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, role); err != nil {
		t.Fatal(err)
	}
	// The first calls may see the terminated connections ("bad connection"); then every
	// new connection is refused with an error naming the role, host and database.
	for i := 0; ; i++ {
		err := st.Ping(context.Background())
		if err != nil && strings.Contains(err.Error(), role) {
			break
		}
		if i == 10 {
			t.Fatalf("the store still works, or its error does not name the role: %v", err)
		}
	}

	do := func(method, path, contentType, body string, header http.Header) (*http.Response, string) {
		req, _ := http.NewRequest(method, env.issuer+path, strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	form := "application/x-www-form-urlencoded"
	p := newPKCE()
	authorize := url.Values{"response_type": {"code"}, "client_id": {"static-app"}, "redirect_uri": {redirect}, "state": {"s"},
		"scope": {"openid"}, "code_challenge": {p.challenge}, "code_challenge_method": {"S256"}}
	cases := []struct {
		name                      string
		method, path, ctype, body string
		header                    http.Header
	}{
		{"token refresh, registered client", "POST", PathToken, form, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens.RefreshToken}, "client_id": {dcr}}.Encode(), nil},
		{"token refresh, static client", "POST", PathToken, form, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tokens.RefreshToken}, "client_id": {"static-app"}}.Encode(), nil},
		{"token code, static client", "POST", PathToken, form, url.Values{"grant_type": {"authorization_code"}, "code": {"abc"}, "redirect_uri": {redirect}, "client_id": {"static-app"}, "code_verifier": {p.verifier}}.Encode(), nil},
		{"register", "POST", PathRegister, "application/json", `{"redirect_uris":["http://127.0.0.1:5555/cb"]}`, nil},
		{"authorize", "GET", PathAuthorize + "?" + authorize.Encode(), "", "", nil},
		{"userinfo", "GET", PathUserinfo, "", "", http.Header{"Authorization": {"Bearer " + tokens.AccessToken}}},
	}
	leaks := []string{role, "postgres", "sql", "pgx", "dial", "5432", "database", "SQLSTATE", "user="}
	refRE := regexp.MustCompile(`internal error \(reference ([0-9a-f]{16})\)`)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(tc.method, tc.path, tc.ctype, tc.body, tc.header)
			shown := body + "\n" + resp.Header.Get("Location") + "\n" + resp.Header.Get("WWW-Authenticate")
			for _, l := range leaks {
				if strings.Contains(strings.ToLower(shown), strings.ToLower(l)) {
					t.Fatalf("%d response mentions %q:\n%s", resp.StatusCode, l, shown)
				}
			}
			text := body
			if loc, err := url.Parse(resp.Header.Get("Location")); err == nil && loc.Query().Get("error") != "" {
				if loc.Query().Get("error") != "server_error" {
					t.Fatalf("redirect with %s, want server_error: %s", loc.Query().Get("error"), loc)
				}
				text = loc.Query().Get("error_description")
			} else {
				var e struct {
					Error string `json:"error"`
				}
				if json.Unmarshal([]byte(body), &e) != nil || e.Error != "server_error" || resp.StatusCode != http.StatusInternalServerError {
					t.Fatalf("got %d %s, want 500 server_error", resp.StatusCode, body)
				}
			}
			m := refRE.FindStringSubmatch(text)
			if m == nil {
				t.Fatalf("no correlation id in %q", text)
			}
			// The id leads to the real error, logged at ERROR.
			var found bool
			for _, line := range strings.Split(logs.String(), "\n") {
				if strings.Contains(line, "correlation_id="+m[1]) {
					found = strings.Contains(line, "level=ERROR") && strings.Contains(line, role)
					break
				}
			}
			if !found {
				t.Fatalf("correlation id %s not logged at ERROR with the store error", m[1])
			}
		})
	}
}
