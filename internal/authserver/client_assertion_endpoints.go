package authserver

import (
	"net/http"
	"net/url"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// assertionAuth lets private_key_jwt clients authenticate to the introspection and
// revocation endpoints with a client assertion (RFC 7523 §2.2, RFC 7662 §2.1, RFC 7009
// §2.1), as at the token endpoint. The assertion is verified here (aud may also be this
// endpoint's URL; the jti counts against the same replay log); op then sees the client as
// authenticated by HTTP Basic, with a placeholder secret that clientRegistry.authenticate
// never compares: it accepts only the client whose assertion was verified for this request.
// Requests without an assertion go to op as they are.
func (s *Server) assertionAuth(endpoint string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		r, oe := s.authenticateAssertion(r, endpoint)
		if oe != nil {
			status := http.StatusUnauthorized
			switch oe.ErrorType {
			case oidc.ServerError:
				status = http.StatusInternalServerError
			case oidc.InvalidRequest:
				status = http.StatusBadRequest
			}
			writeOAuthError(w, status, string(oe.ErrorType), oe.Description)
			return
		}
		if id := assertedClient(r.Context()); id != "" {
			for _, f := range []url.Values{r.PostForm, r.Form} {
				if f != nil {
					f.Del("client_id")
				}
			}
			r.SetBasicAuth(url.QueryEscape(id), assertedSecret)
		}
		next.ServeHTTP(w, r)
	})
}

// assertedSecret stands in for the secret of a client that authenticated with a verified
// client assertion (see assertionAuth); it is never compared with anything.
const assertedSecret = "private_key_jwt"
