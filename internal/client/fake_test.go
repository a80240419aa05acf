package client

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/demo"
)

// fake is a loopback MCP resource server plus a small OAuth authorization server, both on one
// httptest server, configurable to exercise each discovery and registration branch. It checks
// what a real AS checks (PKCE, redirect URI, client auth, resource binding) and records every
// request so tests can assert on the wire.
type fake struct {
	t   *testing.T
	srv *httptest.Server

	issuerPath  string   // "" or e.g. "/tenant1"
	asStyle     string   // rfc8414 (default), oidc-insert, oidc-append, legacy-root, legacy-none
	prmStyle    string   // header (default), path, root, none
	prmResource string   // overrides the PRM resource
	prmScopes   []string // PRM scopes_supported
	challScope  string   // scope in the 401 challenge
	needScope   string   // tools need this scope: 403 insufficient_scope otherwise
	neverEnough bool     // 403 insufficient_scope on every authenticated request
	noS256      bool
	cimd        bool
	noDCR       bool
	authMethods []string
	metaIssuer  string // overrides the issuer in the AS metadata
	issAdvert   bool   // advertises authorization_response_iss_parameter_supported
	respIss     string // iss in authorization responses (RFC 9207); "" = none, "self" = the issuer
	asScopes    []string
	ttl         time.Duration
	device      bool // offers the device authorization grant; approves after one pending poll
	devicePolls int
	deviceReqs  []url.Values
	revoked     []url.Values

	mu         sync.Mutex
	fetched    []string
	authorizes []url.Values
	tokens     []url.Values
	tokenAuth  []string // client id from Basic auth ("" when none)
	registers  []map[string]any
	codes      map[string]url.Values
	access     map[string]grant
	refresh    map[string]grant
	clients    map[string]string // client_id → secret
	mcp        http.Handler
	seq        int
}

type grant struct {
	clientID, scope, resource string
	exp                       time.Time
}

func newFake(t *testing.T, configure func(f *fake)) *fake {
	f := &fake{t: t, ttl: time.Hour, codes: map[string]url.Values{}, access: map[string]grant{}, refresh: map[string]grant{}, clients: map[string]string{}}
	if configure != nil {
		configure(f)
	}
	f.mcp = demo.Weather(nil)
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fake) URL() string    { return f.srv.URL + "/mcp" }
func (f *fake) issuer() string { return f.srv.URL + f.issuerPath }

func (f *fake) next(prefix string) string {
	f.seq++
	return fmt.Sprintf("%s-%d", prefix, f.seq)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fake) asMetadata() map[string]any {
	m := map[string]any{
		"issuer":                   cmp.Or(f.metaIssuer, f.issuer()),
		"authorization_endpoint":   f.srv.URL + "/authorize",
		"token_endpoint":           f.srv.URL + "/token",
		"response_types_supported": []string{"code"},
	}
	if !f.noS256 {
		m["code_challenge_methods_supported"] = []string{"S256"}
	}
	if !f.noDCR {
		m["registration_endpoint"] = f.srv.URL + "/register"
	}
	if f.cimd {
		m["client_id_metadata_document_supported"] = true
	}
	if f.authMethods != nil {
		m["token_endpoint_auth_methods_supported"] = f.authMethods
	}
	if f.asScopes != nil {
		m["scopes_supported"] = f.asScopes
	}
	if f.device {
		m["device_authorization_endpoint"] = f.srv.URL + "/device"
	}
	if f.issAdvert {
		m["authorization_response_iss_parameter_supported"] = true
	}
	m["revocation_endpoint"] = f.srv.URL + "/revoke"
	return m
}

func (f *fake) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := r.URL.Path
	if strings.HasPrefix(p, "/.well-known/") || strings.HasSuffix(p, "/.well-known/openid-configuration") || p == "/custom-prm" {
		f.fetched = append(f.fetched, p)
	}
	prm := map[string]any{"resource": f.URL(), "authorization_servers": []string{f.issuer()}}
	if f.prmResource != "" {
		prm["resource"] = f.prmResource
	}
	if f.prmScopes != nil {
		prm["scopes_supported"] = f.prmScopes
	}
	ip := f.issuerPath
	switch {
	case p == "/custom-prm" && (f.prmStyle == "" || f.prmStyle == "header"):
		writeJSON(w, 200, prm)
	case p == "/.well-known/oauth-protected-resource/mcp" && f.prmStyle == "path":
		writeJSON(w, 200, prm)
	case p == "/.well-known/oauth-protected-resource" && f.prmStyle == "root":
		writeJSON(w, 200, prm)
	case p == "/.well-known/oauth-authorization-server"+ip && (f.asStyle == "" || f.asStyle == "rfc8414"):
		writeJSON(w, 200, f.asMetadata())
	case p == "/.well-known/oauth-authorization-server" && f.asStyle == "legacy-root":
		writeJSON(w, 200, f.asMetadata())
	case p == "/.well-known/openid-configuration"+ip && f.asStyle == "oidc-insert":
		writeJSON(w, 200, f.asMetadata())
	case p == ip+"/.well-known/openid-configuration" && f.asStyle == "oidc-append" && ip != "":
		writeJSON(w, 200, f.asMetadata())
	case p == "/authorize":
		f.authorize(w, r)
	case p == "/token":
		f.token(w, r)
	case p == "/revoke":
		r.ParseForm()
		f.revoked = append(f.revoked, r.PostForm)
		delete(f.refresh, r.PostForm.Get("token"))
		delete(f.access, r.PostForm.Get("token"))
		w.WriteHeader(http.StatusOK)
	case p == "/device" && f.device:
		r.ParseForm()
		f.deviceReqs = append(f.deviceReqs, r.PostForm)
		writeJSON(w, 200, map[string]any{"device_code": "dev-1", "user_code": "ABCD-EFGH", "verification_uri": f.srv.URL + "/activate", "expires_in": 60, "interval": 1})
	case p == "/register" && !f.noDCR:
		f.register(w, r)
	case p == "/mcp":
		f.protect(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (f *fake) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f.authorizes = append(f.authorizes, q)
	ru, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || ru.Scheme != "http" || !isLoopback(ru.Hostname()) {
		http.Error(w, "bad redirect_uri", 400)
		return
	}
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" {
		http.Error(w, "PKCE S256 and state are required", 400)
		return
	}
	code := f.next("code")
	f.codes[code] = q
	rq := ru.Query()
	rq.Set("code", code)
	rq.Set("state", q.Get("state"))
	if f.respIss == "self" {
		rq.Set("iss", f.issuer())
	} else if f.respIss != "" {
		rq.Set("iss", f.respIss)
	}
	ru.RawQuery = rq.Encode()
	http.Redirect(w, r, ru.String(), http.StatusFound)
}

func (f *fake) register(w http.ResponseWriter, r *http.Request) {
	var req map[string]any
	json.NewDecoder(r.Body).Decode(&req)
	f.registers = append(f.registers, req)
	id := f.next("client")
	resp := map[string]any{"client_id": id, "redirect_uris": req["redirect_uris"], "token_endpoint_auth_method": req["token_endpoint_auth_method"]}
	if m, _ := req["token_endpoint_auth_method"].(string); m != "none" {
		resp["client_secret"] = "secret-" + id
		f.clients[id] = "secret-" + id
	} else {
		f.clients[id] = ""
	}
	writeJSON(w, 201, resp)
}

func (f *fake) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	form := r.PostForm
	f.tokens = append(f.tokens, form)
	id, secret, basic := r.BasicAuth()
	if basic {
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
		f.tokenAuth = append(f.tokenAuth, id)
	} else {
		f.tokenAuth = append(f.tokenAuth, "")
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if want, ok := f.clients[id]; ok && want != secret {
		writeJSON(w, 401, map[string]string{"error": "invalid_client"})
		return
	}
	var g grant
	switch form.Get("grant_type") {
	case "authorization_code":
		q, ok := f.codes[form.Get("code")]
		delete(f.codes, form.Get("code"))
		sum := sha256.Sum256([]byte(form.Get("code_verifier")))
		switch {
		case !ok:
			writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "unknown code"})
			return
		case base64.RawURLEncoding.EncodeToString(sum[:]) != q.Get("code_challenge"):
			writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "PKCE verifier mismatch"})
			return
		case form.Get("redirect_uri") != q.Get("redirect_uri") || q.Get("client_id") != id:
			writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "redirect_uri or client mismatch"})
			return
		}
		g = grant{clientID: id, scope: q.Get("scope"), resource: form.Get("resource")}
	case "urn:ietf:params:oauth:grant-type:device_code":
		if form.Get("device_code") != "dev-1" {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
			return
		}
		f.devicePolls++
		if f.devicePolls == 1 {
			writeJSON(w, 400, map[string]string{"error": "authorization_pending"})
			return
		}
		g = grant{clientID: id, scope: f.deviceReqs[0].Get("scope"), resource: form.Get("resource")}
	case "refresh_token":
		old, ok := f.refresh[form.Get("refresh_token")]
		if !ok {
			writeJSON(w, 400, map[string]string{"error": "invalid_grant"})
			return
		}
		delete(f.refresh, form.Get("refresh_token")) // rotation
		g = old
		g.resource = form.Get("resource")
	default:
		writeJSON(w, 400, map[string]string{"error": "unsupported_grant_type"})
		return
	}
	g.exp = time.Now().Add(f.ttl)
	at, rt := f.next("at"), f.next("rt")
	f.access[at] = g
	f.refresh[rt] = g
	writeJSON(w, 200, map[string]any{"access_token": at, "token_type": "Bearer", "expires_in": int(f.ttl.Seconds()), "refresh_token": rt, "scope": g.scope})
}

func (f *fake) challenge(w http.ResponseWriter, status int, extra string) {
	var params []string
	if f.prmStyle == "" || f.prmStyle == "header" {
		params = append(params, fmt.Sprintf("resource_metadata=%q", f.srv.URL+"/custom-prm"))
	}
	if extra != "" {
		params = append(params, extra)
	}
	if len(params) > 0 {
		w.Header().Set("WWW-Authenticate", "Bearer "+strings.Join(params, ", "))
	}
	w.WriteHeader(status)
}

func (f *fake) protect(w http.ResponseWriter, r *http.Request) {
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	g, ok := f.access[tok]
	if !ok || time.Now().After(g.exp) || (g.resource != "" && g.resource != f.URL() && f.prmResource == "") {
		extra := ""
		if f.challScope != "" {
			extra = fmt.Sprintf("scope=%q", f.challScope)
		}
		f.challenge(w, http.StatusUnauthorized, extra)
		return
	}
	if f.neverEnough || (f.needScope != "" && !slices.Contains(strings.Fields(g.scope), f.needScope)) {
		f.challenge(w, http.StatusForbidden, fmt.Sprintf("error=\"insufficient_scope\", scope=%q", strings.TrimSpace(g.scope+" "+f.needScope)))
		return
	}
	f.mu.Unlock()
	defer f.mu.Lock()
	f.mcp.ServeHTTP(w, r)
}

// snapshot returns copies of the recorded requests.
func (f *fake) snapshot() (authorizes, tokens []url.Values, fetched []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.authorizes), slices.Clone(f.tokens), slices.Clone(f.fetched)
}

// newTestClient returns a client for f with unattended sign-in and its own cache dir.
func newTestClient(t *testing.T, f *fake, mod func(*Options)) *Client {
	t.Helper()
	o := Options{ServerURL: f.URL(), CacheDir: t.TempDir(), OpenURL: FollowRedirects, Prompt: testWriter{t}}
	if mod != nil {
		mod(&o)
	}
	c, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// login does what `mcpgate login` does: probe for the challenge, then sign in.
func login(t *testing.T, c *Client) (*Token, error) {
	t.Helper()
	ch, err := Probe(context.Background(), nil, c.ServerURL())
	if err != nil {
		t.Fatal(err)
	}
	return c.Login(context.Background(), ch, "", false)
}
