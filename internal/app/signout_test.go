package app_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/authserver"
)

// signedInTo reports whether the client's browser session still opens My account.
func signedInTo(t *testing.T, c *http.Client, base string) bool {
	t.Helper()
	resp, err := c.Get(base + "/account")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true
	case http.StatusFound, http.StatusSeeOther:
		if !strings.Contains(resp.Header.Get("Location"), authserver.PathLogin) {
			t.Fatalf("/account redirected to %s, want the sign-in page", resp.Header.Get("Location"))
		}
		return false
	}
	t.Fatalf("/account: %d", resp.StatusCode)
	return false
}

// nextSecond waits until the wall clock enters the next second (browser sessions keep
// their start to the second).
func nextSecond() {
	time.Sleep(time.Until(time.Now().Truncate(time.Second).Add(time.Second + 10*time.Millisecond)))
}

// "Sign out everywhere" on My account ends the user's browser sessions in every browser,
// not only this one; so does an administrator's "End every sign-in of this user". Another
// user's sessions, and a sign-in after it, are untouched.
func TestSignOutEverywhereEndsEveryBrowser(t *testing.T) {
	base := serveAliceAndBob(t, "")
	post := func(c *http.Client, path string, form url.Values) {
		t.Helper()
		resp, err := c.PostForm(base+path, form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("POST %s: %d", path, resp.StatusCode)
		}
	}

	laptop, phone, alice := signedIn(t, base, "bob"), signedIn(t, base, "bob"), signedIn(t, base, "alice")
	if !signedInTo(t, laptop, base) || !signedInTo(t, phone, base) {
		t.Fatal("bob is not signed in on both browsers")
	}
	post(laptop, "/account/signout-everywhere", url.Values{"csrf": {formToken(t, laptop, base+"/account")}})
	if signedInTo(t, laptop, base) {
		t.Error("the browser that signed out everywhere is still signed in")
	}
	if signedInTo(t, phone, base) {
		t.Error("bob's other browser is still signed in after Sign out everywhere")
	}
	if !signedInTo(t, alice, base) {
		t.Error("alice was signed out by bob's Sign out everywhere")
	}
	nextSecond()
	again := signedIn(t, base, "bob")
	if !signedInTo(t, again, base) {
		t.Fatal("a sign-in after Sign out everywhere does not hold")
	}

	// The administrator ends every sign-in of bob: his browser session ends too.
	post(alice, "/admin/signins/revoke", url.Values{"csrf": {formToken(t, alice, base+"/admin/keys")}, "user": {"config:bob"}, "signin": {"all"}})
	if signedInTo(t, again, base) {
		t.Error("bob's browser is still signed in after the administrator ended every sign-in of his")
	}
	if !signedInTo(t, alice, base) {
		t.Error("the administrator was signed out")
	}
}
