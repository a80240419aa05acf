package entraemulator

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// authClient identifies and authenticates the client of a token request. needCred says
// whether the grant requires a confidential client. It returns the app and its
// authentication class for appidacr/azpacr (0 public, 1 secret, 2 certificate).
func (em *Emulator) authClient(r *http.Request, t *tenant, needCred bool) (*app, string, *aadError) {
	f := r.PostForm
	id := f.Get("client_id")
	var basicSecret string
	if u, p, ok := r.BasicAuth(); ok {
		uu, _ := url.QueryUnescape(u)
		pp, _ := url.QueryUnescape(p)
		if id != "" && !strings.EqualFold(id, uu) {
			return nil, "", invalidRequest(900144, "The client_id in the Authorization header does not match the client_id in the request body.")
		}
		id, basicSecret = uu, pp
	}
	assertion := f.Get("client_assertion")
	if id == "" && assertion != "" {
		if tok, _, err := jwt.NewParser().ParseUnverified(assertion, jwt.MapClaims{}); err == nil {
			id, _ = tok.Claims.(jwt.MapClaims)["iss"].(string)
		}
	}
	if id == "" {
		return nil, "", invalidRequest(900144, "The request body must contain the following parameter: 'client_id'.")
	}
	a := em.dir.appByID[strings.ToLower(id)]
	if a == nil || a.home == nil || (t != nil && !a.inTenant(t)) {
		return nil, "", newErr(400, "unauthorized_client", 700016,
			"Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
			id, tenantDisplay(t))
	}
	secretVal := f.Get("client_secret")
	if basicSecret != "" {
		secretVal = basicSecret
	}
	switch {
	case assertion != "":
		if f.Get("client_assertion_type") != assertionType {
			return nil, "", invalidRequest(50027, "Invalid client_assertion_type: use %s.", assertionType)
		}
		if err := em.checkAssertion(r, a, assertion); err != nil {
			return nil, "", err
		}
		return a, "2", nil
	case secretVal != "":
		now := em.now()
		matched := false
		for _, s := range a.secrets {
			if subtle.ConstantTimeCompare([]byte(s.value), []byte(secretVal)) == 1 {
				if !s.expires.IsZero() && now.After(s.expires) {
					return nil, "", invalidClient(7000222, "The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.", a.clientID)
				}
				matched = true
			}
		}
		if !matched {
			return nil, "", invalidClient(7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", a.clientID)
		}
		return a, "1", nil
	default:
		if needCred || (a.confidential() && !a.cfg.PublicClient) {
			return nil, "", invalidClient(7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		}
		return a, "0", nil
	}
}

// checkAssertion validates a certificate client_assertion: x5t or x5t#S256 names an
// uploaded certificate, RS256 or PS256, iss = sub = client id, aud = this token endpoint,
// within its validity.
func (em *Emulator) checkAssertion(r *http.Request, a *app, assertion string) *aadError {
	var used string
	tok, err := jwt.Parse(assertion, func(t *jwt.Token) (any, error) {
		s256, _ := t.Header["x5t#S256"].(string)
		s1, _ := t.Header["x5t"].(string)
		used = s256 + s1
		for _, c := range a.certs {
			x5t, x5tS256 := thumbprints(c)
			if (s256 != "" && sameThumb(s256, x5tS256)) || (s256 == "" && s1 != "" && sameThumb(s1, x5t)) {
				return c.PublicKey, nil
			}
		}
		return nil, errKeyNotFound
	}, jwt.WithValidMethods([]string{"RS256", "PS256"}), jwt.WithTimeFunc(em.now), jwt.WithLeeway(5*time.Minute), jwt.WithExpirationRequired())
	if err != nil {
		switch {
		case errors.Is(err, errKeyNotFound):
			return invalidClient(700027, "Client assertion contains an invalid signature. [Reason - The key was not found., Thumbprint of key used by client: '%s'. Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.]", used, a.clientID)
		case errors.Is(err, jwt.ErrTokenExpired), errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
			return invalidClient(700024, "Client assertion is not within its valid time range. Current time: %s, assertion valid from/to: see the nbf and exp claims.", errorTime(em.now()))
		case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
			return invalidClient(700027, "Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value.]")
		default:
			return invalidClient(50027, "JWT token is invalid or malformed: %v.", err)
		}
	}
	c := tok.Claims.(jwt.MapClaims)
	iss, _ := c["iss"].(string)
	sub, _ := c["sub"].(string)
	if !strings.EqualFold(iss, a.clientID) || !strings.EqualFold(sub, a.clientID) {
		return invalidClient(700021, "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials.")
	}
	aud, _ := c.GetAudience()
	want := strings.ToLower(em.base(r) + r.URL.Path)
	if !slices.ContainsFunc(aud, func(s string) bool { return strings.ToLower(strings.TrimRight(s, "/")) == want }) {
		return invalidClient(700027, "Client assertion failed validation. [Reason - The audience claim is '%s' but must be the token endpoint '%s'.]", strings.Join(aud, " "), em.base(r)+r.URL.Path)
	}
	return nil
}

var errKeyNotFound = errors.New("key not found")

func tenantDisplay(t *tenant) string {
	if t == nil {
		return "common"
	}
	return t.displayName
}

// sameThumb compares a thumbprint from a JWT header with ours. MSAL Go writes standard
// padded base64 where the RFC says base64url; Entra accepts both, so do we.
func sameThumb(header, ours string) bool {
	want, _ := base64.RawURLEncoding.DecodeString(ours)
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if got, err := enc.DecodeString(header); err == nil {
			return subtle.ConstantTimeCompare(got, want) == 1
		}
	}
	return false
}
