package authserver

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/mcpgate/mcpgate/internal/store"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// cluster is a load balancer (one httptest server, the issuer of every replica) in front
// of authorization-server replicas, each on its own httptest server. Every request goes to
// the replica chosen with use; each replica logs what it served since then.
type cluster struct {
	t        *testing.T
	lb       *httptest.Server
	issuer   string
	redirect string
	users    []ConfigUser
	// mutate, if set, adjusts each replica's Options before New.
	mutate func(*Options)

	mu       sync.Mutex
	target   int
	replicas []*replica
}

type replica struct {
	as     *Server
	srv    *httptest.Server
	served []string // "METHOD /path" since the last use
}

const replicaClient = "replica-app"

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, redirect: "http://127.0.0.1:5555/cb"}
	proxy := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		c.mu.Lock()
		u, _ := url.Parse(c.replicas[c.target].srv.URL)
		c.mu.Unlock()
		pr.SetURL(u)
		pr.Out.Host = pr.In.Host
	}}
	c.lb = httptest.NewServer(proxy)
	t.Cleanup(c.lb.Close)
	c.issuer = c.lb.URL
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	// Users and clients from the configuration: every replica knows them whatever its store.
	c.users = []ConfigUser{{Username: "alice", Name: "Alice Liddell", Email: "alice@example.com", PasswordHash: string(hash)}}
	return c
}

// start builds a Server on st behind a new httptest server, the issuer being the load
// balancer's URL; it returns the replica's index (replace, if >= 0, swaps that replica).
func (c *cluster) start(st store.Store, replace int) int {
	c.t.Helper()
	opts := Options{
		Issuer:            c.issuer,
		Store:             st,
		Logger:            slog.New(slog.NewTextHandler(c.t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug})),
		Resources:         func() []string { return []string{c.issuer + "/mcp"} },
		Scopes:            []string{"mcp:tools"},
		Users:             c.users,
		Clients:           []StaticClient{{ID: replicaClient, Name: "Replica App", RedirectURIs: []string{c.redirect}}},
		AllowInsecureHTTP: true,
	}
	if c.mutate != nil {
		c.mutate(&opts)
	}
	as, err := New(context.Background(), opts)
	if err != nil {
		c.t.Fatal(err)
	}
	r := &replica{as: as}
	h := as.Handler()
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		c.mu.Lock()
		r.served = append(r.served, req.Method+" "+req.URL.Path)
		c.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	c.t.Cleanup(r.srv.Close)
	c.mu.Lock()
	defer c.mu.Unlock()
	if replace >= 0 {
		c.replicas[replace] = r
		return replace
	}
	c.replicas = append(c.replicas, r)
	return len(c.replicas) - 1
}

// use sends the following requests to replica i and clears every replica's log.
func (c *cluster) use(i int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.target = i
	for _, r := range c.replicas {
		r.served = nil
	}
}

// servedBy fails unless replica i served want since the last use (and no other replica
// served anything).
func (c *cluster) servedBy(i int, want string) {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for j, r := range c.replicas {
		if j == i && !slices.Contains(r.served, want) {
			c.t.Fatalf("replica %d did not serve %q (served %v)", i, want, r.served)
		}
		if j != i && len(r.served) > 0 {
			c.t.Fatalf("replica %d served %v although requests went to replica %d", j, r.served, i)
		}
	}
}

func (c *cluster) browser() *browser {
	return (&testEnv{t: c.t}).browser(c.redirect)
}

func (c *cluster) authorizeURL(p pkce, extra url.Values) string {
	env := &testEnv{issuer: c.issuer, resource: c.issuer + "/mcp"}
	return env.authorizeURL(replicaClient, c.redirect, p, extra)
}

// exchange redeems a code at the current replica and fails unless tokens come back.
func (c *cluster) exchange(code string, p pkce) {
	c.t.Helper()
	env := &testEnv{t: c.t, issuer: c.issuer}
	tr := env.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {c.redirect},
		"client_id": {replicaClient}, "code_verifier": {p.verifier}, "resource": {c.issuer + "/mcp"}}, "", "")
	if tr.status != http.StatusOK || tr.AccessToken == "" {
		c.t.Fatalf("code exchange: %d %s: %s", tr.status, tr.Error, tr.ErrorDescription)
	}
}

func isLoginPage(resp *http.Response, body string) bool {
	return resp.StatusCode == http.StatusOK && strings.Contains(body, `name="password"`)
}

// codeFrom fails unless resp is the redirect to the client carrying a code.
func (c *cluster) codeFrom(resp *http.Response, body string) string {
	c.t.Helper()
	if resp.StatusCode != http.StatusFound {
		c.t.Fatalf("want the redirect to the client, got %d at %s:\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil || !strings.HasPrefix(loc.String(), c.redirect) || loc.Query().Get("code") == "" {
		c.t.Fatalf("redirect %q carries no code", resp.Header.Get("Location"))
	}
	return loc.Query().Get("code")
}

// signInAcross signs in with the login form rendered by replica `form`, posted to replica
// `post` (which sets the session), the consent page rendered by `post` approved at `form`,
// and the code redeemed at `post`.
func (c *cluster) signInAcross(b *browser, form, post int) {
	c.t.Helper()
	p := newPKCE()
	c.use(form)
	resp, body := b.get(c.authorizeURL(p, url.Values{"prompt": {"consent"}}))
	if !isLoginPage(resp, body) {
		c.t.Fatalf("replica %d: want the login page, got %d:\n%s", form, resp.StatusCode, body)
	}
	c.servedBy(form, "GET /login")
	id := resp.Request.URL.Query().Get("authRequestID")

	c.use(post)
	resp, body = b.post(c.issuer+PathLogin, url.Values{"csrf": {csrfFrom(c.t, body)}, "authRequestID": {id}, "username": {"alice"}, "password": {testPassword}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `value="approve"`) {
		c.t.Fatalf("replica %d refused the login form rendered by replica %d: %d\n%s", post, form, resp.StatusCode, body)
	}
	c.servedBy(post, "POST /login")
	c.servedBy(post, "GET /consent")

	c.use(form)
	resp, body = b.post(c.issuer+PathConsent, url.Values{"csrf": {csrfFrom(c.t, body)}, "authRequestID": {id}, "action": {"approve"}})
	code := c.codeFrom(resp, body)
	c.servedBy(form, "POST /consent")

	c.use(post)
	c.exchange(code, p)
	c.servedBy(post, "POST /token")
}

// stillSignedIn fails unless an authorization at replica i ends at the client without the
// login page (the browser's session cookie is accepted there).
func (c *cluster) stillSignedIn(b *browser, i int) {
	c.t.Helper()
	p := newPKCE()
	c.use(i)
	resp, body := b.get(c.authorizeURL(p, nil))
	if isLoginPage(resp, body) {
		c.t.Fatalf("replica %d showed the login page again: the session cookie was not accepted", i)
	}
	code := c.codeFrom(resp, body)
	c.servedBy(i, "GET /login")
	c.exchange(code, p)
}

func TestReplicasShareSessionsAndCSRF(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "as.db")
		replicasShareSessions(t, func() store.Store {
			st, err := store.OpenSQLite(context.Background(), path, nil)
			if err != nil {
				t.Fatal(err)
			}
			return st
		})
	})
	t.Run("postgres", func(t *testing.T) {
		dsn := testutil.PostgresSchema(t)
		replicasShareSessions(t, func() store.Store {
			st, err := store.OpenPostgres(context.Background(), dsn, nil)
			if err != nil {
				t.Fatal(err)
			}
			return st
		})
	})
}

// replicasShareSessions runs two replicas, each with its own handle on one database
// (openStore opens another handle, as another process would).
func replicasShareSessions(t *testing.T, openStore func() store.Store) {
	c := newCluster(t)
	stores := []store.Store{openStore(), openStore()}
	for _, st := range stores {
		t.Cleanup(func() { st.Close() })
	}
	// Both replicas create the secret at once; they must end up with one.
	secrets := make([][]byte, 2)
	var wg sync.WaitGroup
	for i, st := range stores {
		wg.Go(func() {
			var err error
			secrets[i], err = loadCookieSecret(context.Background(), st)
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if t.Failed() || string(secrets[0]) != string(secrets[1]) {
		t.Fatal("replicas starting together got different cookie secrets")
	}
	a, b := c.start(stores[0], -1), c.start(stores[1], -1)

	for _, dir := range [][2]int{{a, b}, {b, a}} {
		form, post := dir[0], dir[1]
		t.Logf("login form rendered by replica %d, posted to replica %d", form, post)
		br := c.browser()
		c.signInAcross(br, form, post)
		// The session cookie was set by `post`; `form` accepts it, and so does `post`.
		c.stillSignedIn(br, form)
		c.stillSignedIn(br, post)
	}
}

// A restart (a new Server on the same SQLite file) keeps sessions and pending forms.
func TestRestartKeepsSessionAndCSRF(t *testing.T) {
	path := filepath.Join(t.TempDir(), "as.db")
	open := func() store.Store {
		st, err := store.OpenSQLite(context.Background(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	c := newCluster(t)
	st := open()
	i := c.start(st, -1)
	signedIn := c.browser()
	c.signInAcross(signedIn, i, i)
	// A second browser has a login form open when the server restarts.
	pending := c.browser()
	c.use(i)
	resp, body := pending.get(c.authorizeURL(newPKCE(), nil))
	if !isLoginPage(resp, body) {
		t.Fatalf("want the login page, got %d", resp.StatusCode)
	}
	id := resp.Request.URL.Query().Get("authRequestID")

	c.replicas[i].srv.Close()
	st.Close()
	st = open()
	defer st.Close()
	i = c.start(st, i)

	c.stillSignedIn(signedIn, i)
	c.use(i)
	resp, body = pending.post(c.issuer+PathLogin, url.Values{"csrf": {csrfFrom(t, body)}, "authRequestID": {id}, "username": {"alice"}, "password": {testPassword}})
	if isLoginPage(resp, body) || resp.StatusCode != http.StatusFound {
		t.Fatalf("the login form from before the restart was refused: %d\n%s", resp.StatusCode, body)
	}
	c.codeFrom(resp, body)
}

// Replicas on different stores have different secrets: B rejects a session set by A.
func TestReplicaOnAnotherStoreRejectsSession(t *testing.T) {
	c := newCluster(t)
	a := c.start(store.NewMemory(), -1)
	b := c.start(store.NewMemory(), -1)
	br := c.browser()
	c.signInAcross(br, a, a)
	c.stillSignedIn(br, a) // the cookie is good where it was set

	c.use(b)
	resp, body := br.get(c.authorizeURL(newPKCE(), nil))
	if !isLoginPage(resp, body) {
		t.Fatalf("replica on another store accepted the session cookie: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	c.servedBy(b, "GET /login")
}
