package authserver

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/redis/go-redis/v9"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// pgRole is a PostgreSQL role with a schema of its own that a test can lock out (NOLOGIN,
// sessions terminated) and let back in: a database outage for a store opened as that role,
// while a store opened as the admin on the same schema (another replica, another network
// path) keeps working.
type pgRole struct {
	t        *testing.T
	admin    *sql.DB
	role     string
	dsn      string // as the role
	adminDSN string // as the admin, same schema
}

func newPGRole(t *testing.T) *pgRole {
	t.Helper()
	dsn := testutil.PostgresDSN(t)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := &pgRole{t: t, admin: admin, role: "mcpgate_rev_" + strings.ToLower(strings.NewReplacer("-", "", "_", "").Replace(randomToken(6)))}
	for _, q := range []string{`CREATE ROLE ` + p.role + ` LOGIN`, `CREATE SCHEMA ` + p.role + ` AUTHORIZATION ` + p.role} {
		if _, err := admin.Exec(q); err != nil {
			admin.Close()
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, p.role)
		admin.Exec(`DROP SCHEMA ` + p.role + ` CASCADE`)
		admin.Exec(`DROP ROLE ` + p.role)
		admin.Close()
	})
	withSchema := func(asRole bool) string {
		u, _ := url.Parse(dsn)
		if asRole {
			u.User = url.User(p.role)
		}
		q := u.Query()
		q.Set("search_path", p.role)
		u.RawQuery = q.Encode()
		return u.String()
	}
	p.dsn, p.adminDSN = withSchema(true), withSchema(false)
	return p
}

func (p *pgRole) open(dsn string) store.Store {
	p.t.Helper()
	st, err := store.OpenPostgres(context.Background(), dsn, nil)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { st.Close() })
	return st
}

// down refuses the role and waits until st (opened as the role) sees the refusal.
func (p *pgRole) down(st store.Store) {
	p.t.Helper()
	if _, err := p.admin.Exec(`ALTER ROLE ` + p.role + ` NOLOGIN`); err != nil {
		p.t.Fatal(err)
	}
	if _, err := p.admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, p.role); err != nil {
		p.t.Fatal(err)
	}
	for i := 0; ; i++ {
		err := st.Ping(context.Background())
		if err != nil && strings.Contains(err.Error(), p.role) {
			return
		}
		if i == 10 {
			p.t.Fatalf("the store still works for role %s: %v", p.role, err)
		}
	}
}

// up lets the role log in again.
func (p *pgRole) up() {
	p.t.Helper()
	if _, err := p.admin.Exec(`ALTER ROLE ` + p.role + ` LOGIN`); err != nil {
		p.t.Fatal(err)
	}
}

// bearer is an http.RoundTripper that sends a fixed access token.
type bearer string

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+string(b))
	return http.DefaultTransport.RoundTrip(r)
}

// callTool connects to the MCP endpoint with token and calls whoami.
func callTool(ctx context.Context, endpoint, token string) error {
	client := mcp.NewClient(&mcp.Implementation{Name: "revocation-test", Version: "1"}, nil)
	sess, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: endpoint, HTTPClient: &http.Client{Transport: bearer(token)}, DisableStandaloneSSE: true}, nil)
	if err != nil {
		return err
	}
	defer sess.Close()
	_, err = sess.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	return err
}

// claimsOf reads an access token's claims without checking it.
func claimsOf(t *testing.T, token string) AccessClaims {
	t.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var c AccessClaims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		t.Fatal(err)
	}
	return c
}

// revoke stores the revocation of token's jti in st, as another replica would.
func revokeIn(t *testing.T, st store.Store, token string) {
	t.Helper()
	c := claimsOf(t, token)
	if err := st.RevokeAccessToken(context.Background(), c.ID, c.Expiry.Time()); err != nil {
		t.Fatal(err)
	}
}

func isRevoked(err error) bool {
	var ae *authn.Error
	return errors.As(err, &ae) && ae.Reason == "revoked"
}

// waitRevoked fails unless v refuses token as revoked within bound; it returns how long
// that took. Any other error fails at once.
func waitRevoked(t *testing.T, v authn.Verifier, token string, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		_, err := v.Verify(context.Background(), token)
		if isRevoked(err) {
			return time.Since(start)
		}
		if err != nil {
			t.Fatalf("want the token refused as revoked, got %v", err)
		}
		if time.Since(start) > bound {
			t.Fatalf("the token is still accepted %v after its revocation (bound %v)", time.Since(start).Round(time.Millisecond), bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRevocationSurvivesStoreOutage serves on PostgreSQL as a role that the test then
// locks out: tool calls with valid tokens keep working through the outage (longer than the
// signing-key cache and many revocation polls), a token revoked before it stays refused,
// the log says once what is down (and never a token), RevocationHealth says since when
// the list is stale, and after recovery, without a restart, a revocation stored by another
// replica is enforced within the poll interval. Once with token checks polling inline, once
// with RunRevocationSync polling in the background.
func TestRevocationSurvivesStoreOutage(t *testing.T) {
	for _, background := range []bool{false, true} {
		name := "inline polls"
		if background {
			name = "background poller"
		}
		t.Run(name, func(t *testing.T) { revocationSurvivesOutage(t, background) })
	}
}

func revocationSurvivesOutage(t *testing.T, background bool) {
	const interval = 200 * time.Millisecond
	const slack = 300 * time.Millisecond // the poll itself and scheduling on a busy machine
	pg := newPGRole(t)
	st := pg.open(pg.dsn)
	other := pg.open(pg.adminDSN) // another replica's handle on the same tables, not cut off

	logs, withLogs := captureLogs(t)
	var ahead atomic.Int64 // moves the server's clock, to expire its signing-key cache
	redirect := "http://127.0.0.1:5555/cb"
	env := newTestEnv(t, func(o *Options) {
		o.Store = st
		withLogs(o)
		o.RevocationPollInterval = interval
		o.Now = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
	})
	if background {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); env.as.RunRevocationSync(ctx, nil) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	client := env.register(redirect)
	good := env.codeFlow(client, redirect).AccessToken
	revokedBefore := env.codeFlow(client, redirect).AccessToken
	revokedAfter := env.codeFlow(client, redirect).AccessToken
	ctx := context.Background()
	v := env.as.Verifier(env.resource)

	// Another replica revokes a token; this one enforces it within the interval.
	revokeIn(t, other, revokedBefore)
	if d := waitRevoked(t, v, revokedBefore, interval+slack); d > interval+slack {
		t.Fatalf("revocation took %v", d)
	}
	if err := env.as.RevocationHealth(ctx); err != nil {
		t.Fatalf("health before the outage: %v", err)
	}

	pg.down(st)
	outage := time.Now()
	// Past the 30s signing-key cache: the next check reloads keys from the dead store.
	ahead.Store(int64(time.Minute))
	for time.Since(outage) < 8*interval {
		if err := callTool(ctx, env.resource, good); err != nil {
			t.Fatalf("%v into the outage: a tool call with a valid token failed: %v", time.Since(outage).Round(time.Millisecond), err)
		}
		if _, err := v.Verify(ctx, good); err != nil {
			t.Fatalf("%v into the outage: the verifier refused a valid token: %v", time.Since(outage).Round(time.Millisecond), err)
		}
		if err := callTool(ctx, env.resource, revokedBefore); err == nil {
			t.Fatal("during the outage a tool call with a token revoked before it succeeded")
		}
		if _, err := v.Verify(ctx, revokedBefore); !isRevoked(err) {
			t.Fatalf("during the outage the token revoked before it: %v, want revoked", err)
		}
		time.Sleep(interval / 4)
	}
	err := env.as.RevocationHealth(ctx)
	if err == nil || !strings.Contains(err.Error(), "stale since") || !strings.Contains(err.Error(), pg.role) {
		t.Fatalf("RevocationHealth during the outage: %v, want stale since ... with the store error", err)
	}
	// Revoked during the outage by a replica that still reaches the store: not enforced
	// here until this one reaches it again (no Redis in this test).
	revokeIn(t, other, revokedAfter)
	if _, err := v.Verify(ctx, revokedAfter); err != nil {
		t.Fatalf("during the outage: %v", err)
	}

	pg.up()
	recovered := time.Now()
	d := waitRevoked(t, v, revokedAfter, interval+slack)
	t.Logf("after recovery, the revocation stored during the outage was enforced in %v", d.Round(time.Millisecond))
	// And one stored after recovery, within the bound.
	fresh := env.codeFlow(client, redirect).AccessToken
	revokeIn(t, other, fresh)
	d = waitRevoked(t, v, fresh, interval+slack)
	t.Logf("a revocation stored after recovery was enforced in %v", d.Round(time.Millisecond))
	if err := callTool(ctx, env.resource, good); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	for time.Since(recovered) < interval {
		time.Sleep(interval / 4)
	}
	if err := env.as.RevocationHealth(ctx); err != nil {
		t.Fatalf("health after recovery: %v", err)
	}

	out := logs.String()
	var warns []string
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "access-token revocation list: the store is unreachable") {
			warns = append(warns, line)
		}
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "level=WARN") || !strings.Contains(warns[0], pg.role) {
		t.Fatalf("want one warning naming the store error for the whole outage, got %d:\n%s", len(warns), strings.Join(warns, "\n"))
	}
	for _, want := range []string{"signing keys: the store is unreachable; keeping the keys loaded before", "access-token revocation list: the store is reachable again"} {
		if !strings.Contains(out, want) {
			t.Errorf("the log does not say %q", want)
		}
	}
	if strings.Contains(out, "issuer's keys") {
		t.Error("the log blames the issuer's keys for a store outage")
	}
	for _, tok := range []string{good, revokedBefore, revokedAfter, fresh} {
		if strings.Contains(out, tok) || strings.Contains(out, strings.Split(tok, ".")[2]) {
			t.Fatal("a token was logged")
		}
	}
}

// TestSignInEndRevokesAccessTokensOnEveryReplica: two replicas on one PostgreSQL. A code
// replay, a refresh-token replay, RP-initiated logout and RFC 7009 revocation of a refresh
// token at replica A revoke the access tokens of that sign-in, and replica B refuses them:
// within the poll interval without Redis, within a second over Redis (where B's poll
// interval is a minute, so only the announcement can explain it).
func TestSignInEndRevokesAccessTokensOnEveryReplica(t *testing.T) {
	modes := []struct {
		name     string
		redis    bool
		interval time.Duration
		bound    time.Duration
	}{
		{"poll", false, 300 * time.Millisecond, 300*time.Millisecond + 400*time.Millisecond},
		{"redis", true, time.Minute, time.Second},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			var rdb *redis.Client
			if m.redis {
				rdb = redis.NewClient(&redis.Options{Addr: testutil.RedisAddr(t)})
				t.Cleanup(func() { rdb.Close() })
			}
			dsn := testutil.PostgresSchema(t)
			c := newCluster(t)
			c.mutate = func(o *Options) {
				o.RevocationPollInterval = m.interval
				o.Clients = append(o.Clients, StaticClient{ID: "agent", Secret: "agent-secret", GrantTypes: []string{string(oidc.GrantTypeTokenExchange)}})
			}
			open := func() store.Store {
				st, err := store.OpenPostgres(context.Background(), dsn, nil)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { st.Close() })
				return st
			}
			a, b := c.start(open(), -1), c.start(open(), -1)
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for _, i := range []int{a, b} {
				wg.Go(func() { c.replicas[i].as.RunRevocationSync(ctx, rdb) })
			}
			t.Cleanup(func() { cancel(); wg.Wait() })
			if m.redis {
				waitSubscribers(t, rdb, 2)
			}
			env := &testEnv{t: t, issuer: c.issuer}
			resource := c.issuer + "/mcp"
			vb := c.replicas[b].as.Verifier(resource)

			// signIn signs in at A and returns the code and its PKCE verifier.
			signIn := func() (string, pkce) {
				p := newPKCE()
				c.use(a)
				loc := c.browser().signIn(c.authorizeURL(p, url.Values{"scope": {"openid offline_access mcp:tools"}}), "alice", testPassword, true)
				return loc.Query().Get("code"), p
			}
			redeem := func(code string, p pkce) tokenResponse {
				return env.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.redirect},
					"client_id": {replicaClient}, "code_verifier": {p.verifier}, "resource": {resource}}, "", "")
			}
			refresh := func(rt string) tokenResponse {
				return env.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {replicaClient}}, "", "")
			}
			tokens := func() tokenResponse {
				tr := redeem(signIn())
				if tr.status != http.StatusOK || tr.AccessToken == "" || tr.RefreshToken == "" {
					t.Fatalf("code exchange: %d %s %s", tr.status, tr.Error, tr.ErrorDescription)
				}
				return tr
			}
			accepted := func(toks ...string) {
				t.Helper()
				for _, tok := range toks {
					if _, err := vb.Verify(context.Background(), tok); err != nil {
						t.Fatalf("replica B refused a valid token: %v", err)
					}
				}
			}
			refused := func(toks ...string) {
				t.Helper()
				for _, tok := range toks {
					d := waitRevoked(t, vb, tok, m.bound)
					t.Logf("replica B refused the access token %v after the revocation at A", d.Round(time.Millisecond))
				}
			}

			t.Run("code replay", func(t *testing.T) {
				code, p := signIn()
				tr := redeem(code, p)
				if tr.status != http.StatusOK {
					t.Fatalf("code exchange: %d %s", tr.status, tr.ErrorDescription)
				}
				accepted(tr.AccessToken)
				if r := redeem(code, p); r.Error != "invalid_grant" {
					t.Fatalf("replayed code: %+v", r)
				}
				refused(tr.AccessToken)
			})
			t.Run("refresh replay", func(t *testing.T) {
				tr := tokens()
				next := refresh(tr.RefreshToken)
				if next.status != http.StatusOK {
					t.Fatalf("refresh: %d %s", next.status, next.ErrorDescription)
				}
				accepted(tr.AccessToken, next.AccessToken)
				if r := refresh(tr.RefreshToken); r.Error != "invalid_grant" {
					t.Fatalf("replayed refresh token: %+v", r)
				}
				refused(tr.AccessToken, next.AccessToken)
			})
			t.Run("exchanged token, refresh replay", func(t *testing.T) {
				tr := tokens()
				ex := env.token(url.Values{"grant_type": {string(oidc.GrantTypeTokenExchange)}, "subject_token": {tr.AccessToken},
					"subject_token_type": {string(oidc.AccessTokenType)}, "resource": {resource}}, "agent", "agent-secret")
				if ex.status != http.StatusOK {
					t.Fatalf("token exchange: %d %s", ex.status, ex.ErrorDescription)
				}
				next := refresh(tr.RefreshToken)
				accepted(tr.AccessToken, ex.AccessToken, next.AccessToken)
				if r := refresh(tr.RefreshToken); r.Error != "invalid_grant" {
					t.Fatalf("replayed refresh token: %+v", r)
				}
				refused(ex.AccessToken, tr.AccessToken, next.AccessToken)
			})
			t.Run("end session", func(t *testing.T) {
				tr := tokens()
				other := tokens() // a second sign-in of the same user at the same client
				accepted(tr.AccessToken, other.AccessToken)
				noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				resp, err := noRedirect.Get(c.issuer + PathEndSession + "?" + url.Values{"id_token_hint": {tr.IDToken}, "client_id": {replicaClient}}.Encode())
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode/100 != 3 && resp.StatusCode != http.StatusOK {
					t.Fatalf("end session: %d", resp.StatusCode)
				}
				refused(tr.AccessToken, other.AccessToken)
			})
			t.Run("refresh token revoked (RFC 7009)", func(t *testing.T) {
				tr := tokens()
				accepted(tr.AccessToken)
				resp, err := http.PostForm(c.issuer+PathRevoke, url.Values{"token": {tr.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {replicaClient}})
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("revoke: %d", resp.StatusCode)
				}
				refused(tr.AccessToken)
			})
		})
	}
}

// waitSubscribers waits until at least n clients subscribe to RevocationChannel.
func waitSubscribers(t *testing.T, rdb *redis.Client, n int64) {
	t.Helper()
	for start := time.Now(); time.Since(start) < 5*time.Second; time.Sleep(10 * time.Millisecond) {
		subs, err := rdb.PubSubNumSub(context.Background(), RevocationChannel).Result()
		if err == nil && subs[RevocationChannel] >= n {
			return
		}
	}
	t.Fatalf("fewer than %d replicas subscribed to %s", n, RevocationChannel)
}

// TestRevocationWithRedisDown: the replicas are configured with a Redis that refuses
// connections. A refresh-token replay at A is still enforced at B within the poll
// interval (polling does not depend on Redis), and A says in the log that the announcement
// failed.
func TestRevocationWithRedisDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	ln.Close()
	rdb := redis.NewClient(&redis.Options{Addr: deadAddr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { rdb.Close() })

	const interval = 300 * time.Millisecond
	dsn := testutil.PostgresSchema(t)
	logs, withLogs := captureLogs(t)
	c := newCluster(t)
	c.mutate = func(o *Options) { o.RevocationPollInterval = interval; withLogs(o) }
	open := func() store.Store {
		st, err := store.OpenPostgres(context.Background(), dsn, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
	a, b := c.start(open(), -1), c.start(open(), -1)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, i := range []int{a, b} {
		wg.Go(func() { c.replicas[i].as.RunRevocationSync(ctx, rdb) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })

	env := &testEnv{t: t, issuer: c.issuer}
	p := newPKCE()
	c.use(a)
	loc := c.browser().signIn(c.authorizeURL(p, nil), "alice", testPassword, true)
	tr := env.token(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {c.redirect},
		"client_id": {replicaClient}, "code_verifier": {p.verifier}, "resource": {c.issuer + "/mcp"}}, "", "")
	if tr.status != http.StatusOK || tr.RefreshToken == "" {
		t.Fatalf("code exchange: %d %s", tr.status, tr.ErrorDescription)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {replicaClient}}
	if r := env.token(refresh, "", ""); r.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.status, r.ErrorDescription)
	}
	if r := env.token(refresh, "", ""); r.Error != "invalid_grant" {
		t.Fatalf("replayed refresh token: %+v", r)
	}
	vb := c.replicas[b].as.Verifier(c.issuer + "/mcp")
	d := waitRevoked(t, vb, tr.AccessToken, interval+400*time.Millisecond)
	t.Logf("with Redis down, replica B refused the access token %v after the replay at A", d.Round(time.Millisecond))
	if !strings.Contains(logs.String(), "publishing an access-token revocation on Redis failed") {
		t.Fatal("the failed announcement was not logged")
	}
	if strings.Contains(logs.String(), tr.AccessToken) || strings.Contains(logs.String(), tr.RefreshToken) {
		t.Fatal("a token was logged")
	}
}
