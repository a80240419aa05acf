package federation_test

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// goIdP is a small OpenID provider written for the tests, for what oidc-provider cannot be
// driven to do from a test: rotate its signing key on demand (and sign with the new key at
// once, as ORY Hydra does), refuse a sign-in, offboard a user (refresh tokens and userinfo
// then refused), change a user's groups, and be unreachable.
type goIdP struct {
	t   *testing.T
	srv *httptest.Server
	URL string

	mu        sync.Mutex
	keys      []*rsa.PrivateKey // keys[0] signs; all are published
	kids      []string
	users     map[string]*idpUser
	codes     map[string]idpGrant
	refresh   map[string]idpGrant
	access    map[string]string // access token -> sub
	refuse    string            // error code the authorization endpoint answers with
	down      bool              // every endpoint answers 503
	noRefresh bool              // the token endpoint issues no refresh token
	refreshN  int               // refresh grants answered
	ended     []url.Values      // end-session requests received
	// userinfo, when set, answers the userinfo endpoint instead of the user's claims (fault
	// injection: another user's sub, a malformed or oversized body).
	userinfoFault func(u *idpUser) (status int, body string)
}

type idpUser struct {
	Sub, Email, Name string
	Groups           []string
}

// idpGrant is a code or refresh token: its user, nonce, and the provider session (sid).
type idpGrant struct{ sub, nonce, sid string }

const goIdPClient = "mcpgate"

func startGoIdP(t *testing.T) *goIdP {
	p := &goIdP{t: t, users: map[string]*idpUser{}, codes: map[string]idpGrant{}, refresh: map[string]idpGrant{}, access: map[string]string{}}
	p.rotate()
	p.users["dana"] = &idpUser{Sub: "dana", Email: "dana@example.org", Name: "Dana", Groups: []string{"mcp-users", "admins"}}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("/authorize", p.authorize)
	mux.HandleFunc("/token", p.token)
	mux.HandleFunc("/jwks", p.jwks)
	mux.HandleFunc("/userinfo", p.userinfo)
	mux.HandleFunc("/logout", p.endSession)
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(p.srv.Close)
	p.URL = p.srv.URL
	return p
}

// rotate makes a new signing key, used from now on; the old keys stay published.
func (p *goIdP) rotate() {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = append([]*rsa.PrivateKey{k}, p.keys...)
	p.kids = append([]string{"k" + strconv.Itoa(len(p.kids)+1) + "-" + randomString(4)}, p.kids...)
}

func (p *goIdP) set(f func(p *goIdP)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (p *goIdP) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, 200, map[string]any{"issuer": p.URL, "authorization_endpoint": p.URL + "/authorize", "token_endpoint": p.URL + "/token",
		"jwks_uri": p.URL + "/jwks", "userinfo_endpoint": p.URL + "/userinfo", "end_session_endpoint": p.URL + "/logout", "response_types_supported": []string{"code"},
		"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"}})
}

func (p *goIdP) jwks(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var keys []map[string]string
	for i, k := range p.keys {
		keys = append(keys, map[string]string{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": p.kids[i],
			"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())})
	}
	writeJSON(w, 200, map[string]any{"keys": keys})
}

// authorize signs dana in at once (or refuses with p.refuse).
func (p *goIdP) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	back, _ := url.Parse(q.Get("redirect_uri"))
	v := back.Query()
	v.Set("state", q.Get("state"))
	p.mu.Lock()
	if p.refuse != "" {
		v.Set("error", p.refuse)
		v.Set("error_description", "The user is not assigned to this application.")
	} else {
		code := randomString(16)
		p.codes[code] = idpGrant{sub: "dana", nonce: q.Get("nonce"), sid: "sid-" + randomString(6)}
		v.Set("code", code)
	}
	p.mu.Unlock()
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

func (p *goIdP) token(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	p.mu.Lock()
	defer p.mu.Unlock()
	var g idpGrant
	var ok bool
	switch r.PostForm.Get("grant_type") {
	case "authorization_code":
		g, ok = p.codes[r.PostForm.Get("code")]
		delete(p.codes, r.PostForm.Get("code"))
	case "refresh_token":
		p.refreshN++
		g, ok = p.refresh[r.PostForm.Get("refresh_token")]
		delete(p.refresh, r.PostForm.Get("refresh_token"))
		g.nonce = ""
	}
	u := p.users[g.sub]
	if !ok || u == nil {
		writeJSON(w, 400, map[string]string{"error": "invalid_grant", "error_description": "grant not found or the user is gone"})
		return
	}
	at, rt := randomString(16), randomString(16)
	p.access[at] = u.Sub
	p.refresh[rt] = idpGrant{sub: u.Sub, sid: g.sid}
	now := time.Now()
	claims := jwt.MapClaims{"iss": p.URL, "aud": goIdPClient, "sub": u.Sub, "iat": now.Unix(), "exp": now.Add(2 * time.Hour).Unix(),
		"email": u.Email, "name": u.Name, "groups": slices.Clone(u.Groups), "sid": g.sid}
	if g.nonce != "" {
		claims["nonce"] = g.nonce
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"] = p.kids[0]
	idt, err := tok.SignedString(p.keys[0])
	if err != nil {
		p.t.Error(err)
	}
	resp := map[string]any{"access_token": at, "refresh_token": rt, "id_token": idt, "token_type": "Bearer", "expires_in": 7200}
	if p.noRefresh {
		delete(resp, "refresh_token")
	}
	writeJSON(w, 200, resp)
}

func (p *goIdP) userinfo(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	tok := r.Header.Get("Authorization")
	if len(tok) > 7 {
		tok = tok[7:]
	}
	u := p.users[p.access[tok]]
	if u == nil {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
		writeJSON(w, 401, map[string]string{"error": "invalid_token"})
		return
	}
	if p.userinfoFault != nil {
		status, body := p.userinfoFault(u)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		w.Write([]byte(body))
		return
	}
	writeJSON(w, 200, map[string]any{"sub": u.Sub, "email": u.Email, "name": u.Name, "groups": u.Groups})
}

// endSession is RP-Initiated Logout: it records the request and sends the browser to its
// post_logout_redirect_uri with its state.
func (p *goIdP) endSession(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p.mu.Lock()
	p.ended = append(p.ended, q)
	p.mu.Unlock()
	back, err := url.Parse(q.Get("post_logout_redirect_uri"))
	if err != nil || !back.IsAbs() {
		http.Error(w, "You are signed out (no post_logout_redirect_uri).", http.StatusOK)
		return
	}
	v := back.Query()
	v.Set("state", q.Get("state"))
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// sessions returns the sids of the refresh grants held for sub.
func (p *goIdP) sessions(sub string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, g := range p.refresh {
		if g.sub == sub && !slices.Contains(out, g.sid) {
			out = append(out, g.sid)
		}
	}
	return out
}

// logoutToken is a Back-Channel Logout token for sub, signed with the current key; change
// edits its claims.
func (p *goIdP) logoutToken(sub string, change func(jwt.MapClaims)) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	claims := jwt.MapClaims{"iss": p.URL, "aud": goIdPClient, "sub": sub, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti": randomString(8), "events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}}}
	if change != nil {
		change(claims)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	tok.Header["kid"], tok.Header["typ"] = p.kids[0], "logout+jwt"
	s, err := tok.SignedString(p.keys[0])
	if err != nil {
		p.t.Fatal(err)
	}
	return s
}
