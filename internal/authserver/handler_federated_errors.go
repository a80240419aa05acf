package authserver

import (
	"html/template"
	"net/http"
	"net/url"
	"strings"

	"github.com/mcpgate/mcpgate/internal/store"
)

// clientRedirectDelay is how long the error page of a failed federated sign-in stays up
// before the browser takes the error to the MCP client (the page also has a link).
const clientRedirectDelay = 5

// failToClient ends a federated sign-in that failed after the MCP client's redirect_uri was
// verified (the authorization request exists): the user sees mcpgate's error page (title,
// message, what to do), and the browser then brings the error to the client's redirect_uri
// (RFC 6749 §4.1.2.1: error, error_description, state; RFC 9207: iss), so that the client
// stops waiting and can say why. The authorization request is used up.
func (s *Server) failToClient(w http.ResponseWriter, r *http.Request, a store.AuthRequest, status int, title, msg, detail, code, desc string) {
	s.store.DeleteAuthRequest(r.Context(), a.ID)
	d := pageData{Title: title, Error: msg, Detail: detail}
	if u, err := url.Parse(a.RedirectURI); err == nil && a.RedirectURI != "" {
		q := u.Query()
		q.Set("error", code)
		q.Set("error_description", oauthText(desc))
		if a.State != "" {
			q.Set("state", a.State)
		}
		q.Set("iss", s.issuer)
		u.RawQuery = q.Encode()
		d.ReturnURL, d.ReturnDelay = template.URL(u.String()), clientRedirectDelay // a registered, verified redirect URI (custom schemes too)
	}
	s.render(w, status, "message.html", d)
}

// clientErrorCode is the authorization error the MCP client gets for an error of the
// upstream identity provider: the provider's code when it means the same to the client
// (the user refused or must interact, the provider is unavailable), otherwise server_error
// (a problem between mcpgate and the provider — invalid_client, invalid_scope at the
// provider — is nothing the client could fix by changing its request).
func clientErrorCode(upstream string) string {
	switch upstream {
	case "access_denied", "login_required", "interaction_required", "consent_required", "account_selection_required", "temporarily_unavailable":
		return upstream
	}
	return "server_error"
}

// oauthText keeps the characters RFC 6749 allows in error_description (printable ASCII
// without '"' and '\'), replacing others with a space, and at most 300 of them.
func oauthText(s string) string {
	var b strings.Builder
	for _, c := range s {
		if b.Len() >= 300 {
			break
		}
		if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			c = ' '
		}
		b.WriteRune(c)
	}
	return b.String()
}
