package testutil

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
)

// Person plays a user in front of mcpgate's server-rendered pages over plain HTTP: it
// follows redirects with a cookie jar, signs in on a login form, and answers a consent page.
// It exists so that end-to-end tests of sign-in need no browser; the pages themselves are
// exercised in real Chromium by the authserver tests.
type Person struct {
	Username, Password string
	// Consent is "approve" (default) or "deny".
	Consent string
	// Client is the person's browser (a cookie jar is added when nil).
	Client *http.Client
	// Seen records every URL visited, for assertions.
	Seen []string
	// Federated, when set, picks the "Sign in with <Federated>" link of a login page that
	// offers one instead of its password form; the identity provider's own login form
	// (Entra's login/passwd fields too) is then filled with Username and Password.
	Federated string
	// StopAt, when set, ends Authorize before following a redirect to a URL starting with it
	// (for flows that end on a page of the same server, such as connecting an account).
	StopAt string
}

var (
	formRe   = regexp.MustCompile(`(?is)<form[^>]*action="([^"]*)"[^>]*>(.*?)</form>`)
	inputRe  = regexp.MustCompile(`(?is)<input[^>]*>`)
	attrRe   = regexp.MustCompile(`(?is)\b(name|value|type)="([^"]*)"`)
	buttonRe = regexp.MustCompile(`(?is)<button[^>]*name="([^"]*)"[^>]*value="([^"]*)"`)
)

// Authorize opens authURL and goes through login and consent until the authorization
// server redirects away from itself (to the client's redirect URI, which it then visits so
// that a loopback callback receives the code). It returns the final redirect URL.
func (p *Person) Authorize(ctx context.Context, authURL string) (string, error) {
	if p.Client == nil {
		jar, _ := cookiejar.New(nil)
		p.Client = &http.Client{Jar: jar}
	}
	c := *p.Client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	start, err := url.Parse(authURL)
	if err != nil {
		return "", err
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, authURL, nil)
	for step := 0; step < 20; step++ {
		p.Seen = append(p.Seen, req.URL.String())
		resp, err := c.Do(req)
		if err != nil {
			return "", fmt.Errorf("visiting %s: %w", req.URL, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			loc, err := req.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				return "", err
			}
			if p.StopAt != "" && strings.HasPrefix(loc.String(), p.StopAt) {
				return loc.String(), nil
			}
			if loc.Host != start.Host {
				// Leaving the authorization server: deliver the redirect to the client.
				if loc.Scheme == "http" || loc.Scheme == "https" {
					r2, _ := http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
					if resp2, err := http.DefaultClient.Do(r2); err == nil {
						io.Copy(io.Discard, resp2.Body)
						resp2.Body.Close()
					}
				}
				return loc.String(), nil
			}
			req, _ = http.NewRequestWithContext(ctx, http.MethodGet, loc.String(), nil)
			continue
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("%s answered %d: %s", req.URL, resp.StatusCode, strings.TrimSpace(string(body)))
		}
		if link := p.federatedLink(req.URL, string(body)); link != nil {
			req, _ = http.NewRequestWithContext(ctx, http.MethodGet, link.String(), nil)
			continue
		}
		next, err := p.submit(ctx, req.URL, string(body))
		if err != nil {
			return "", err
		}
		req = next
	}
	return "", fmt.Errorf("sign-in did not finish after 20 pages (visited %v)", p.Seen)
}

// submit fills the page's form: credentials on a login form, the consent answer on a
// consent form.
func (p *Person) submit(ctx context.Context, page *url.URL, body string) (*http.Request, error) {
	m := formRe.FindStringSubmatch(body)
	if m == nil {
		return nil, fmt.Errorf("%s shows no form: %s", page, snippet(body))
	}
	action, err := page.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return nil, err
	}
	form := url.Values{}
	login := false
	for _, in := range inputRe.FindAllString(m[2], -1) {
		attrs := map[string]string{}
		for _, a := range attrRe.FindAllStringSubmatch(in, -1) {
			attrs[strings.ToLower(a[1])] = html.UnescapeString(a[2])
		}
		switch {
		case attrs["name"] == "":
		case attrs["type"] == "password":
			form.Set(attrs["name"], p.Password)
			login = true
		case attrs["name"] == "username" || attrs["name"] == "login":
			form.Set(attrs["name"], p.Username)
		default:
			form.Set(attrs["name"], attrs["value"])
		}
	}
	if !login {
		answer := p.Consent
		if answer == "" {
			answer = "approve"
		}
		found := false
		for _, b := range buttonRe.FindAllStringSubmatch(m[2], -1) {
			if b[2] == answer {
				form.Set(b[1], b[2])
				found = true
			}
		}
		if !found && p.Consent == "" && len(buttonRe.FindAllStringSubmatch(m[2], -1)) == 0 {
			// A form with one plain submit button (a "Connect" page): press it.
			found = true
		}
		if !found {
			return nil, fmt.Errorf("%s has a form without a %q button: %s", page, answer, snippet(body))
		}
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", page.Scheme+"://"+page.Host)
	return req, nil
}

// federatedLink is the page's "Sign in with <Federated>" link, if p.Federated is set.
func (p *Person) federatedLink(page *url.URL, body string) *url.URL {
	if p.Federated == "" {
		return nil
	}
	re := regexp.MustCompile(`(?is)<a[^>]*href="([^"]*)"[^>]*>\s*Sign in with ` + regexp.QuoteMeta(html.EscapeString(p.Federated)) + `\s*</a>`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return nil
	}
	u, err := page.Parse(html.UnescapeString(m[1]))
	if err != nil {
		return nil
	}
	return u
}

func snippet(s string) string {
	if i := strings.Index(s, "<main"); i >= 0 {
		s = s[i:]
	}
	if len(s) > 600 {
		s = s[:600] + "…"
	}
	return s
}
