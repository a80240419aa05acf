package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/mcpgate/mcpgate/internal/clip"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
	"github.com/mcpgate/mcpgate/internal/store"
)

// AuthMethodPrivateKeyJWT is RFC 7523 §2.2 client authentication: the client signs a JWT
// with a key from its registered jwks or jwks_uri and sends it as client_assertion.
const AuthMethodPrivateKeyJWT = "private_key_jwt"

const (
	clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// maxAssertionLifetime bounds exp - now of a client assertion: it is used once, at
	// once, so a long-lived one is only a longer replay window (and a longer jti log).
	maxAssertionLifetime = 5 * time.Minute
	assertionLeeway      = 30 * time.Second
	maxJWKSBytes         = 64 << 10
)

// clientAssertionAlgs are the signature algorithms accepted on client assertions (no HMAC:
// the server holds no shared secret of such a client, and no "none").
var clientAssertionAlgs = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

type assertedClientKey struct{}

// assertedClient is the client ID whose client assertion this request carried and
// handleToken verified; clientRegistry.authenticate accepts it in place of a secret.
func assertedClient(ctx context.Context) string {
	id, _ := ctx.Value(assertedClientKey{}).(string)
	return id
}

// authenticateAssertion verifies the client assertion (RFC 7523 §3) of a request to
// endpoint (PathToken, PathIntrospect or PathRevoke), if it has one, and returns the
// request with client_id set, the assertion removed (op and the grant handlers then see a
// client that authenticated like client_secret_post with an empty secret) and the client
// recorded in the context. A request without an assertion is returned as is.
func (s *Server) authenticateAssertion(r *http.Request, endpoint string) (*http.Request, *oidc.Error) {
	if r.PostForm == nil {
		if err := r.ParseForm(); err != nil {
			return r, oidc.ErrInvalidRequest().WithDescription("the token request body is not a form")
		}
	}
	typ, assertion := r.PostForm.Get("client_assertion_type"), r.PostForm.Get("client_assertion")
	if typ == "" && assertion == "" {
		return r, nil
	}
	if typ != clientAssertionType {
		return r, oidc.ErrInvalidClient().WithDescription("client_assertion_type must be " + clientAssertionType + " (RFC 7523 §2.2)")
	}
	if _, _, basic := r.BasicAuth(); basic || r.PostForm.Get("client_secret") != "" {
		return r, oidc.ErrInvalidRequest().WithDescription("use one client authentication method: a client_assertion and a client secret were both sent")
	}
	id, err := s.verifyClientAssertion(r.Context(), assertion, r.PostForm.Get("client_id"), endpoint)
	if err != nil {
		var oe *oidc.Error
		if errors.As(err, &oe) {
			return r, oe
		}
		return r, s.internalError(r.Context(), "verifying a client assertion failed", err)
	}
	for _, f := range []url.Values{r.PostForm, r.Form} {
		if f != nil {
			f.Del("client_assertion")
			f.Del("client_assertion_type")
			f.Set("client_id", id)
		}
	}
	return r.WithContext(context.WithValue(r.Context(), assertedClientKey{}, id)), nil
}

// verifyClientAssertion checks a private_key_jwt client assertion (RFC 7523 §3, OpenID
// Connect Core §9): signed by a key of the client's jwks or jwks_uri; iss and sub the
// client ID (and equal to client_id when the form has one); aud the issuer, the token
// endpoint or the endpoint the request went to; exp present, not past and at most 5
// minutes ahead; jti present and never seen before (the store's assertion log, shared by
// replicas, until exp).
func (s *Server) verifyClientAssertion(ctx context.Context, assertion, formClientID, endpoint string) (string, error) {
	refuse := func(format string, args ...any) (string, error) {
		desc := "client assertion refused: " + fmt.Sprintf(format, args...)
		s.log.InfoContext(ctx, "client authentication failed", "method", AuthMethodPrivateKeyJWT, "reason", desc, "client_id", clip.String(formClientID))
		noteError(ctx, desc)
		return "", oidc.ErrInvalidClient().WithDescription("%s", desc)
	}
	tok, err := jwt.ParseSigned(assertion, clientAssertionAlgs)
	if err != nil {
		return refuse("not a JWS signed with an asymmetric algorithm (%s)", clip.String(err.Error()))
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return refuse("unreadable claims")
	}
	id := unverified.Issuer
	if id == "" || unverified.Subject != id {
		return refuse("iss and sub must both be the client_id")
	}
	if formClientID != "" && formClientID != id {
		return refuse("iss %q is not the client_id %q of the request", clip.String(id), clip.String(formClientID))
	}
	c, err := s.clients.get(ctx, id)
	if errors.Is(err, errUnknownClient) {
		return refuse("unknown client %q", clip.String(id))
	}
	if err != nil {
		return "", err
	}
	if c.AuthMethod != AuthMethodPrivateKeyJWT {
		return refuse("client %q is not registered for private_key_jwt", clip.String(id))
	}
	keys, err := s.clientKeys(ctx, c, tok.Headers[0].KeyID)
	if err != nil {
		return refuse("the client's keys could not be read: %s", clip.String(err.Error()))
	}
	var claims jwt.Claims
	verified := false
	for _, k := range keys.Keys {
		if kid := tok.Headers[0].KeyID; kid != "" && k.KeyID != kid {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if tok.Claims(k.Key, &claims) == nil {
			verified = true
			break
		}
	}
	if !verified {
		return refuse("the signature does not verify with any key of the client's jwks")
	}
	now := s.opts.Now()
	if err := claims.ValidateWithLeeway(jwt.Expected{Issuer: id, Subject: id, Time: now}, assertionLeeway); err != nil {
		return refuse("%s", err.Error())
	}
	if claims.Expiry == nil {
		return refuse("exp is required")
	}
	exp := claims.Expiry.Time()
	if exp.After(now.Add(maxAssertionLifetime + assertionLeeway)) {
		return refuse("exp is more than %s ahead; sign a short-lived assertion for each request", maxAssertionLifetime)
	}
	if !slices.ContainsFunc(claims.Audience, func(a string) bool { return a == s.issuer+PathToken || a == s.issuer || a == s.issuer+endpoint }) {
		return refuse("aud must be the token endpoint %s, the issuer %s or this endpoint %s", s.issuer+PathToken, s.issuer, s.issuer+endpoint)
	}
	if claims.ID == "" {
		return refuse("jti is required")
	}
	al, ok := s.store.(store.AssertionLog)
	if !ok {
		return "", errors.New("the store cannot record used assertions (store.AssertionLog)")
	}
	err = al.UseAssertion(ctx, hashToken("client-assertion:"+id+":"+claims.ID), exp.Add(assertionLeeway), now)
	if errors.Is(err, store.ErrAlreadyExists) {
		return refuse("this assertion (its jti) was already used; sign a new one for each request")
	}
	if err != nil {
		return "", err
	}
	return id, nil
}

// clientKeys returns a private_key_jwt client's public keys: its registered jwks, or the
// set at its jwks_uri (client_assertion_jwks.go: cached, fetched over https through the
// SSRF guard, bounded in size). kid is the assertion's key id ("" when none).
func (s *Server) clientKeys(ctx context.Context, c store.Client, kid string) (*jose.JSONWebKeySet, error) {
	if len(c.JWKS) > 0 {
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(c.JWKS, &set); err != nil {
			return nil, err
		}
		return &set, nil
	}
	if c.JWKSURI == "" {
		return nil, errors.New("the client has neither jwks nor jwks_uri")
	}
	return s.jwksCache.keys(ctx, c.JWKSURI, kid, s.opts.Now(), s.fetchJWKS)
}

// fetchJWKS gets the key set at a client's jwks_uri.
func (s *Server) fetchJWKS(ctx context.Context, uri string) (*jose.JSONWebKeySet, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := GuardedHTTPClient(5*time.Second, s.opts.CIMD.AllowPrivateAddresses).Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks_uri answered %d", resp.StatusCode)
	}
	b, err := jsonlimit.Read(resp.Body, maxJWKSBytes, jsonlimit.Limits{})
	if err != nil {
		return nil, err
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, err
	}
	return &set, nil
}

// checkRegisteredJWKS validates the jwks or jwks_uri of a private_key_jwt registration.
func checkRegisteredJWKS(raw json.RawMessage, uri string, dev bool) error {
	switch {
	case len(raw) > 0 && uri != "":
		return errors.New("send jwks or jwks_uri, not both (RFC 7591 §2)")
	case len(raw) > 0:
		var set jose.JSONWebKeySet
		if err := json.Unmarshal(raw, &set); err != nil {
			return fmt.Errorf("jwks is not a JSON Web Key Set: %s", clip.String(err.Error()))
		}
		if len(set.Keys) == 0 {
			return errors.New("jwks has no keys")
		}
		for _, k := range set.Keys {
			if !k.Valid() || !k.IsPublic() {
				return fmt.Errorf("jwks key %q is not a valid public key", clip.String(k.KeyID))
			}
		}
		return nil
	case uri != "":
		u, err := url.Parse(uri)
		if err != nil || u.Host == "" || (u.Scheme != "https" && !(dev && u.Scheme == "http")) {
			return fmt.Errorf("jwks_uri %q must be an https URL", clip.String(uri))
		}
		return nil
	}
	return errors.New("private_key_jwt needs the client's public keys: send jwks or jwks_uri")
}
