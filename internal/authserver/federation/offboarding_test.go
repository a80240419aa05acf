package federation_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/config"
)

// offboardingEnv is goEnv with revalidateAfter 5m and revalidateGrace 10m.
func offboardingEnv(t *testing.T) (*env, *goIdP) {
	return goEnv(t, func(c *config.Config) {
		c.AuthServer.Connectors[0].RevalidateAfter = config.Duration(5 * time.Minute)
		c.AuthServer.Connectors[0].RevalidateGrace = config.Duration(10 * time.Minute)
	})
}

// refusedRefresh checks that s's refresh is refused with want in the description and that
// the access token it held is refused too.
func refusedRefresh(t *testing.T, e *env, s *signedIn, want string) {
	t.Helper()
	status, tok := s.refreshTokens(t, e)
	if status != http.StatusBadRequest || tok["error"] != "invalid_grant" || !strings.Contains(tok["error_description"].(string), want) {
		t.Fatalf("refresh = %d %v; want invalid_grant saying %q", status, tok, want)
	}
	if _, _, err := e.as.VerifyAccessToken(t.Context(), s.access, e.resource); err == nil {
		t.Fatal("the sign-in's access token is still accepted after the refusal")
	}
}

// TestOffboarding is issue 24's offboarding: mcpgate's refresh grant re-validates with the
// provider once the last confirmation is older than revalidateAfter.
func TestOffboarding(t *testing.T) {
	t.Run("within the bound the provider is not asked", func(t *testing.T) {
		e, idp := offboardingEnv(t)
		s := signInTokens(t, e)
		e.clock.advance(4 * time.Minute)
		if status, tok := s.refreshTokens(t, e); status != http.StatusOK {
			t.Fatalf("refresh = %d %v", status, tok)
		}
		if idp.refreshN != 0 {
			t.Fatalf("the provider was asked %d times within the bound", idp.refreshN)
		}
	})
	t.Run("user removed at the provider", func(t *testing.T) {
		e, idp := offboardingEnv(t)
		s := signInTokens(t, e)
		other := signInTokens(t, e) // another client of the same user
		idp.set(func(p *goIdP) { delete(p.users, "dana") })
		if status, _ := s.refreshTokens(t, e); status != http.StatusOK {
			t.Fatal("refused within the bound") // the provider is not asked yet
		}
		replica := e.replica()
		if _, _, err := replica.VerifyAccessToken(t.Context(), s.access, e.resource); err != nil {
			t.Fatalf("the other replica refuses the token before the offboarding: %v", err)
		}
		e.clock.advance(6 * time.Minute)
		refusedRefresh(t, e, &s, "no longer accepts this user")
		// The access token is refused on the other replica too (its next revocation poll).
		deadline := time.Now().Add(3 * time.Second)
		for {
			if _, _, err := replica.VerifyAccessToken(t.Context(), s.access, e.resource); err != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("the other replica still accepts the revoked access token")
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The provider tokens are deleted: the user's other sign-ins end at their next refresh.
		refusedRefresh(t, e, &other, "holds no sign-in of this user")
		if !strings.Contains(e.logs.String(), "the provider ended the user's sign-in") {
			t.Fatalf("not logged:\n%s", e.logs.String())
		}
	})
	t.Run("group removed at the provider", func(t *testing.T) {
		e, idp := offboardingEnv(t)
		s := signInTokens(t, e)
		groups := func() []string {
			c, _, err := e.as.VerifyAccessToken(t.Context(), s.access, e.resource)
			if err != nil {
				t.Fatal(err)
			}
			return c.Groups
		}
		if g := groups(); !slices.Contains(g, "admins") {
			t.Fatalf("groups at sign-in = %v", g)
		}
		idp.set(func(p *goIdP) { p.users["dana"].Groups = []string{"mcp-users"} })
		e.clock.advance(6 * time.Minute)
		if status, tok := s.refreshTokens(t, e); status != http.StatusOK {
			t.Fatalf("refresh = %d %v", status, tok)
		}
		if g := groups(); slices.Contains(g, "admins") || !slices.Contains(g, "mcp-users") {
			t.Fatalf("groups after the refresh = %v; want [mcp-users]", g)
		}
	})
	t.Run("provider unreachable: grace, then refused", func(t *testing.T) {
		e, idp := offboardingEnv(t)
		s := signInTokens(t, e)
		idp.set(func(p *goIdP) { p.down = true })
		e.clock.advance(6 * time.Minute)
		if status, tok := s.refreshTokens(t, e); status != http.StatusOK {
			t.Fatalf("refresh within the grace = %d %v", status, tok)
		}
		e.clock.advance(10 * time.Minute) // 16m unconfirmed > 5m + 10m
		refusedRefresh(t, e, &s, "could not confirm this sign-in")
		if !strings.Contains(e.logs.String(), "access goes on within the grace") || !strings.Contains(e.logs.String(), "longer than the grace") {
			t.Fatalf("not logged:\n%s", e.logs.String())
		}
	})
	t.Run("provider back within the grace", func(t *testing.T) {
		e, idp := offboardingEnv(t)
		s := signInTokens(t, e)
		idp.set(func(p *goIdP) { p.down = true })
		e.clock.advance(6 * time.Minute)
		s.refreshTokens(t, e)
		idp.set(func(p *goIdP) { p.down = false })
		e.clock.advance(8 * time.Minute)
		if status, tok := s.refreshTokens(t, e); status != http.StatusOK {
			t.Fatalf("refresh = %d %v", status, tok)
		}
		e.clock.advance(8 * time.Minute) // 16m after the sign-in, 8m after the confirmation
		if status, tok := s.refreshTokens(t, e); status != http.StatusOK {
			t.Fatalf("refresh = %d %v", status, tok)
		}
	})
	t.Run("no provider refresh token: userinfo", func(t *testing.T) {
		e, idp := offboardingEnv(t)
		idp.set(func(p *goIdP) { p.noRefresh = true })
		s := signInTokens(t, e)
		e.clock.advance(6 * time.Minute)
		if status, tok := s.refreshTokens(t, e); status != http.StatusOK {
			t.Fatalf("refresh = %d %v", status, tok)
		}
		idp.set(func(p *goIdP) { delete(p.users, "dana") })
		e.clock.advance(6 * time.Minute)
		refusedRefresh(t, e, &s, "no longer accepts this user")
	})
}
