package upstream

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcpgate/mcpgate/internal/aadsts"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
)

// ClientAuth authenticates mcpgate to a token endpoint.
type ClientAuth interface {
	// apply adds the client authentication to the form and/or request.
	apply(req *http.Request, form url.Values, tokenURL string, now time.Time) error
	clientID() string
}

// ClientSecretPost sends client_id and client_secret in the form body (Entra's default).
type ClientSecretPost struct{ ID, Secret string }

func (c ClientSecretPost) apply(_ *http.Request, form url.Values, _ string, _ time.Time) error {
	form.Set("client_id", c.ID)
	form.Set("client_secret", c.Secret)
	return nil
}
func (c ClientSecretPost) clientID() string { return c.ID }

// ClientSecretBasic sends the client id and secret with HTTP Basic (RFC 6749 §2.3.1).
type ClientSecretBasic struct{ ID, Secret string }

func (c ClientSecretBasic) apply(req *http.Request, form url.Values, _ string, _ time.Time) error {
	req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(c.Secret))
	return nil
}
func (c ClientSecretBasic) clientID() string { return c.ID }

// PublicClient sends only client_id (no client authentication).
type PublicClient struct{ ID string }

func (c PublicClient) apply(_ *http.Request, form url.Values, _ string, _ time.Time) error {
	form.Set("client_id", c.ID)
	return nil
}
func (c PublicClient) clientID() string { return c.ID }

// CertificateAssertion authenticates with a JWT signed by the app's certificate key
// (RFC 7523 private_key_jwt, Entra "certificate credentials"): header alg PS256 (or RS256)
// and x5t#S256 (plus x5t for older Entra), claims aud = token URL, iss = sub = client id,
// jti, iat/nbf, exp ≤ 10 minutes.
type CertificateAssertion struct {
	ID          string
	Key         crypto.Signer // RSA
	Certificate *x509.Certificate
	// Algorithm is PS256 (default) or RS256.
	Algorithm string
	// Lifetime of each assertion; default 5m, capped at 10m.
	Lifetime time.Duration
}

func (c CertificateAssertion) apply(_ *http.Request, form url.Values, tokenURL string, now time.Time) error {
	a, err := c.Assertion(tokenURL, now)
	if err != nil {
		return err
	}
	form.Set("client_id", c.ID)
	form.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
	form.Set("client_assertion", a)
	return nil
}
func (c CertificateAssertion) clientID() string { return c.ID }

// Assertion builds the client assertion JWT for tokenURL.
func (c CertificateAssertion) Assertion(tokenURL string, now time.Time) (string, error) {
	if c.Key == nil || c.Certificate == nil {
		return "", errors.New("certificate assertion: key and certificate are required")
	}
	var method jwt.SigningMethod = jwt.SigningMethodPS256
	if c.Algorithm == "RS256" {
		method = jwt.SigningMethodRS256
	}
	life := c.Lifetime
	if life <= 0 {
		life = 5 * time.Minute
	}
	life = min(life, 10*time.Minute)
	jti := make([]byte, 16)
	if _, err := rand.Read(jti); err != nil {
		return "", err
	}
	tok := jwt.NewWithClaims(method, jwt.RegisteredClaims{
		Issuer:    c.ID,
		Subject:   c.ID,
		Audience:  jwt.ClaimStrings{tokenURL},
		ID:        hex.EncodeToString(jti),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(life)),
	})
	s256 := sha256.Sum256(c.Certificate.Raw)
	tok.Header["x5t#S256"] = base64.RawURLEncoding.EncodeToString(s256[:])
	s1 := sha1Sum(c.Certificate.Raw)
	tok.Header["x5t"] = base64.RawURLEncoding.EncodeToString(s1)
	return tok.SignedString(c.Key)
}

// tokenResponse is a successful token endpoint response (RFC 6749 §5.1, RFC 8693 §2.2.1).
type tokenResponse struct {
	AccessToken     string  `json:"access_token"`
	TokenType       string  `json:"token_type"`
	ExpiresIn       flexInt `json:"expires_in"`
	Scope           string  `json:"scope"`
	RefreshToken    string  `json:"refresh_token"`
	IssuedTokenType string  `json:"issued_token_type"`
}

// flexInt accepts 3600 and "3600" (Entra v1 endpoints send strings).
type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("expires_in %q is not a number", s)
	}
	*f = flexInt(n)
	return nil
}

// oauthError is an RFC 6749 §5.2 error, with Entra's extra fields.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
	SubError    string `json:"suberror"`
	Claims      string `json:"claims"`
	TraceID     string `json:"trace_id"`
	Correlation string `json:"correlation_id"`
}

// tokenClient posts grants to one token endpoint.
type tokenClient struct {
	mode     string
	tokenURL string
	auth     ClientAuth
	http     *http.Client
	log      *slog.Logger
	now      func() time.Time
}

// token is an obtained access token.
type token struct {
	AccessToken  string
	RefreshToken string
	Scope        string
	ExpiresAt    time.Time // zero when the IdP gave no expires_in
	IssuedType   string
}

// exchange posts form to the token endpoint. secrets lists values that must never appear
// in errors (they are scrubbed from the IdP's descriptions). scope is used for consent
// messages.
func (c *tokenClient) exchange(ctx context.Context, form url.Values, scope string) (token, tokenResponse, error) {
	now := c.now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.tokenURL, nil)
	if err != nil {
		return token{}, tokenResponse{}, &Failure{Mode: c.mode, Reason: ReasonConfig, Permanent: true, Description: "bad token URL"}
	}
	if c.auth != nil {
		if err := c.auth.apply(req, form, c.tokenURL, now); err != nil {
			return token{}, tokenResponse{}, &Failure{Mode: c.mode, Reason: ReasonConfig, Permanent: true, Description: "building client authentication: " + err.Error()}
		}
	}
	body := form.Encode()
	req.Body = io.NopCloser(strings.NewReader(body))
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return token{}, tokenResponse{}, &Failure{Mode: c.mode, Reason: ReasonIdPUnreachable, Description: "request cancelled: " + ctx.Err().Error(), Err: ctx.Err()}
		}
		c.log.WarnContext(ctx, "token endpoint unreachable", "mode", c.mode, "token_url", c.tokenURL, "err", scrubErr(err))
		return token{}, tokenResponse{}, &Failure{Mode: c.mode, Reason: ReasonIdPUnreachable, Description: fmt.Sprintf("cannot reach the token endpoint %s: %v", c.tokenURL, scrubErr(err))}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err == nil {
		err = jsonlimit.Check(raw, jsonlimit.Limits{})
	}
	if err != nil {
		return token{}, tokenResponse{}, &Failure{Mode: c.mode, Reason: ReasonIdPUnreachable, Status: resp.StatusCode, Description: "reading the token response: " + err.Error()}
	}
	secrets := secretValues(form)
	c.log.DebugContext(ctx, "token endpoint answered", "mode", c.mode, "grant_type", form.Get("grant_type"), "status", resp.StatusCode, "duration", time.Since(start))
	if resp.StatusCode/100 != 2 {
		return token{}, tokenResponse{}, c.classify(resp.StatusCode, raw, secrets, scope)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "" && mt != "application/json" {
		return token{}, tokenResponse{}, &Failure{Mode: c.mode, Reason: ReasonInvalidResponse, Status: resp.StatusCode, Permanent: true, Description: fmt.Sprintf("token endpoint answered %s, not application/json", mt)}
	}
	var tr tokenResponse
	if err := json.Unmarshal(raw, &tr); err != nil {
		return token{}, tokenResponse{}, &Failure{Mode: c.mode, Reason: ReasonInvalidResponse, Status: resp.StatusCode, Permanent: true, Description: "token response is not valid JSON: " + err.Error()}
	}
	if tr.AccessToken == "" {
		return token{}, tokenResponse{}, &Failure{Mode: c.mode, Reason: ReasonInvalidResponse, Status: resp.StatusCode, Permanent: true, Description: "token response has no access_token"}
	}
	if tr.TokenType != "" && !strings.EqualFold(tr.TokenType, "bearer") && !strings.EqualFold(tr.TokenType, "N_A") {
		return token{}, tokenResponse{}, &Failure{Mode: c.mode, Reason: ReasonInvalidResponse, Status: resp.StatusCode, Permanent: true, Description: fmt.Sprintf("token_type %q is not Bearer; mcpgate only sends bearer tokens", tr.TokenType)}
	}
	t := token{AccessToken: tr.AccessToken, RefreshToken: tr.RefreshToken, Scope: tr.Scope, IssuedType: tr.IssuedTokenType}
	if tr.ExpiresIn > 0 {
		t.ExpiresAt = now.Add(time.Duration(tr.ExpiresIn) * time.Second)
	}
	return t, tr, nil
}

func (c *tokenClient) classify(status int, raw []byte, secrets []string, scope string) error {
	var oe oauthError
	_ = json.Unmarshal(raw, &oe)
	desc := scrub(oe.Description, secrets)
	f := &Failure{Mode: c.mode, Status: status, IdPError: oe.Error, Codes: oe.Codes, Description: desc, Permanent: status < 500}
	for _, code := range oe.Codes {
		if e, ok := aadsts.Explain(code); ok {
			f.Explanation = fmt.Sprintf("AADSTS%d: %s", code, e.Sentence())
			break
		}
	}
	has := func(codes ...int) bool {
		for _, c := range codes {
			if slices.Contains(oe.Codes, c) {
				return true
			}
		}
		return false
	}
	switch {
	case status >= 500 || oe.Error == "temporarily_unavailable" || oe.Error == "server_error":
		f.Reason, f.Permanent = ReasonIdPError, false
		if f.Description == "" {
			f.Description = fmt.Sprintf("the token endpoint failed with HTTP %d; retry later", status)
		}
	case oe.Error == "":
		f.Reason = ReasonInvalidResponse
		f.Description = fmt.Sprintf("the token endpoint answered HTTP %d without an OAuth error body", status)
	case oe.SubError == "consent_required" || oe.Error == "consent_required" || has(65001, 65004):
		app := ""
		if c.auth != nil {
			app = c.auth.clientID()
		}
		return &ConsentRequired{App: app, AppName: entraAppName(desc), Scope: scope, Codes: oe.Codes,
			TraceID: oe.TraceID, CorrelationID: oe.Correlation, Description: desc}
	case oe.Error == "interaction_required" && oe.Claims != "":
		return &ClaimsChallenge{Claims: oe.Claims, Codes: oe.Codes}
	case oe.Error == "invalid_client":
		f.Reason = ReasonInvalidClient
	case oe.Error == "unauthorized_client":
		f.Reason = ReasonUnauthorizedClient
	case oe.Error == "invalid_scope":
		f.Reason = ReasonInvalidScope
	case oe.Error == "invalid_target" || oe.Error == "invalid_resource":
		f.Reason = ReasonInvalidTarget
	case oe.Error == "invalid_request":
		f.Reason = ReasonInvalidRequest
	default: // invalid_grant, interaction_required without claims, access_denied, ...
		f.Reason = ReasonExchangeRefused
	}
	return f
}

// secretValues lists the form values that must never appear in errors or logs.
func secretValues(form url.Values) []string {
	var out []string
	for _, k := range []string{"assertion", "client_secret", "client_assertion", "subject_token", "actor_token", "refresh_token", "code", "code_verifier"} {
		if v := form.Get(k); len(v) >= 4 {
			out = append(out, v)
		}
	}
	return out
}

// scrub removes secret values from s and bounds its length.
func scrub(s string, secrets []string) string {
	for _, v := range secrets {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	if len(s) > 400 {
		s = s[:400] + "…"
	}
	return s
}

// scrubErr drops URL query strings from transport errors (they never carry secrets here,
// but a misconfigured token URL might).
func scrubErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}
