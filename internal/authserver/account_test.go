package authserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/store"
)

// jti reads the jti of a JWT access token (no verification: the test issued it).
func jti(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		JTI string `json:"jti"`
	}
	json.Unmarshal(b, &c)
	return c.JTI
}

// TestRevokeGrantAndSignIns: revoking a grant removes the consent and stops the refresh
// and access tokens of the user at that client; ending a sign-in by family ends only
// that one; ending them all leaves none.
func TestRevokeGrantAndSignIns(t *testing.T) {
	env := newTestEnv(t, nil)
	ctx := context.Background()
	redirect := "http://127.0.0.1:5555/cb"
	c1, c2 := env.register(redirect), env.register(redirect)
	refresh := func(client, tok string) int {
		return env.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok}, "client_id": {client}}, "", "").status
	}
	a := env.codeFlow(c1, redirect)
	b := env.codeFlow(c2, redirect)
	b2 := env.codeFlow(c2, redirect)
	if a.RefreshToken == "" || b.RefreshToken == "" {
		t.Fatalf("no refresh tokens: %+v %+v", a, b)
	}
	live, err := env.store.ListSignIns(ctx, "", 0)
	if err != nil || len(live) != 3 {
		t.Fatalf("live sign-ins = %d, %v", len(live), err)
	}
	sub := live[0].UserID
	live, err = env.store.ListSignIns(ctx, sub, 0)
	if err != nil || len(live) != 3 {
		t.Fatalf("live sign-ins = %d, %v", len(live), err)
	}
	if _, err := env.store.GetConsent(ctx, sub, c1); err != nil {
		t.Fatalf("no consent for c1: %v", err)
	}

	if _, _, err := env.as.RevokeGrant(ctx, sub, c1); err != nil {
		t.Fatal(err)
	}
	if _, err := env.store.GetConsent(ctx, sub, c1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("consent after revoke: %v", err)
	}
	if revoked, _ := env.store.AccessTokenRevoked(ctx, jti(t, a.AccessToken)); !revoked {
		t.Error("c1's access token is not revoked")
	}
	if s := refresh(c1, a.RefreshToken); s != http.StatusBadRequest {
		t.Errorf("c1 refresh after revoke: %d", s)
	}

	// One sign-in of c2, by family: the other one still refreshes.
	live, _ = env.store.ListSignIns(ctx, sub, 0)
	var fam string
	for _, l := range live {
		if l.ClientID == c2 {
			fam = l.FamilyID
			break
		}
	}
	if n, err := env.as.RevokeSignIns(ctx, sub, fam); err != nil || n != 1 {
		t.Fatalf("ending one sign-in: %d, %v", n, err)
	}
	if _, err := env.as.RevokeSignIns(ctx, sub, fam); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ending it again: %v", err)
	}
	if _, err := env.as.RevokeSignIns(ctx, "config:bob", "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ending someone else's sign-in: %v", err)
	}
	okB, okB2 := refresh(c2, b.RefreshToken), refresh(c2, b2.RefreshToken)
	if (okB == 200) == (okB2 == 200) {
		t.Errorf("after ending one of two sign-ins: refresh answered %d and %d", okB, okB2)
	}
	// Everything.
	if _, err := env.as.RevokeSignIns(ctx, sub, ""); err != nil {
		t.Fatal(err)
	}
	if live, _ := env.store.ListSignIns(ctx, sub, 0); len(live) != 0 {
		t.Errorf("sign-ins after signing out everywhere: %d", len(live))
	}
}

// TestRotateSigningKeys: a rotation publishes a new key at once, keeps the current key
// signing through the overlap, and the new key signs once the old one retired.
func TestRotateSigningKeys(t *testing.T) {
	env := newTestEnv(t, nil)
	ctx := context.Background()
	before, err := env.as.SigningKeys(ctx)
	if err != nil || len(before) != 1 || before[0].State != "signing" {
		t.Fatalf("keys before = %+v, %v", before, err)
	}
	k, err := env.as.RotateSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after, err := env.as.SigningKeys(ctx)
	if err != nil || len(after) != 2 {
		t.Fatalf("keys after = %+v, %v", after, err)
	}
	states := map[string]string{}
	for _, ki := range after {
		states[ki.ID] = ki.State
	}
	if states[k.ID] != "next" || states[before[0].ID] != "signing" {
		t.Errorf("states after rotation = %v (new %s)", states, k.ID)
	}
	old := after[1]
	if old.ID != before[0].ID || !old.RetireAt.Before(before[0].RetireAt) {
		t.Errorf("the old key retires at %v, before rotation %v", old.RetireAt, before[0].RetireAt)
	}
	set, err := env.as.PublicKeys(ctx)
	if err != nil || len(set.Keys) != 2 {
		t.Errorf("published keys = %d, %v", len(set.Keys), err)
	}
	// Once the old key retired, the new one signs.
	if err := env.store.RetireSigningKey(ctx, old.ID, env.as.opts.Now().Add(-1), old.ExpiresAt); err != nil {
		t.Fatal(err)
	}
	env.as.keys.load(ctx, true)
	cur, err := env.as.keys.signing(ctx)
	if err != nil || cur.meta.ID != k.ID {
		t.Errorf("signing with %s (%v), want the new key %s", cur.meta.ID, err, k.ID)
	}
}

// TestPagesRefuseOtherMethods: the browser pages answer other methods with the shared
// page, not plain text.
func TestPagesRefuseOtherMethods(t *testing.T) {
	env := newTestEnv(t, nil)
	redirect := "http://127.0.0.1:5555/cb"
	client := env.register(redirect)
	resp, _ := env.browser(redirect).get(env.authorizeURL(client, redirect, newPKCE(), nil))
	login := resp.Request.URL.String() // /login?authRequestID=…
	for _, p := range []string{login, env.issuer + PathDevice} {
		t.Run(p, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPut, p, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body strings.Builder
			buf := make([]byte, 4096)
			for {
				n, err := resp.Body.Read(buf)
				body.Write(buf[:n])
				if err != nil {
					break
				}
			}
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, POST" ||
				!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body.String(), `class="card`) {
				t.Errorf("%s: %d %q %q\n%s", p, resp.StatusCode, resp.Header.Get("Allow"), resp.Header.Get("Content-Type"), body.String())
			}
		})
	}
}

// TestDisabledClientRefused: a client an administrator disabled can neither start a
// sign-in nor refresh; enabled again, it can.
func TestDisabledClientRefused(t *testing.T) {
	env := newTestEnv(t, nil)
	ctx := context.Background()
	redirect := "http://127.0.0.1:5555/cb"
	client := env.register(redirect)
	tr := env.codeFlow(client, redirect)
	if err := env.store.SetClientDisabled(ctx, client, true); err != nil {
		t.Fatal(err)
	}
	resp, body := env.browser(redirect).get(env.authorizeURL(client, redirect, newPKCE(), nil))
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Unknown application") {
		t.Errorf("authorize with a disabled client: %d\n%s", resp.StatusCode, body)
	}
	if r := env.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tr.RefreshToken}, "client_id": {client}}, "", ""); r.status == http.StatusOK {
		t.Error("a disabled client refreshed its token")
	}
	if err := env.store.SetClientDisabled(ctx, client, false); err != nil {
		t.Fatal(err)
	}
	env.codeFlow(client, redirect)
}

// TestRemoveSigningKey: a removed key leaves the key set at once and the next key signs;
// removing the only key makes a new one.
func TestRemoveSigningKey(t *testing.T) {
	env := newTestEnv(t, nil)
	ctx := context.Background()
	first, _ := env.as.SigningKeys(ctx)
	next, err := env.as.RotateSigningKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.as.RemoveSigningKey(ctx, first[0].ID); err != nil {
		t.Fatal(err)
	}
	cur, err := env.as.keys.signing(ctx)
	if err != nil || cur.meta.ID != next.ID {
		t.Fatalf("signing with %s (%v), want the next key %s", cur.meta.ID, err, next.ID)
	}
	set, _ := env.as.PublicKeys(ctx)
	if len(set.Keys) != 1 || set.Keys[0].KeyID != next.ID {
		t.Errorf("published after removal: %+v", set.Keys)
	}
	if err := env.as.RemoveSigningKey(ctx, next.ID); err != nil {
		t.Fatal(err)
	}
	keys, _ := env.as.SigningKeys(ctx)
	if len(keys) != 1 || keys[0].ID == next.ID || keys[0].State != "signing" {
		t.Errorf("after removing the only key: %+v", keys)
	}
	if err := env.as.RemoveSigningKey(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("removing an unknown key: %v", err)
	}
}
