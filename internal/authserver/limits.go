package authserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/clip"
	"github.com/mcpgate/mcpgate/internal/jsonlimit"
)

// Request bodies. Every form this server reads (token, authorize, device, login, consent,
// revocation, introspection) is a few hundred bytes, a registration a few kilobytes; 64
// KiB leaves room for long redirect URI lists while a multi-megabyte body is refused
// before it is buffered (net/http's ParseForm alone would read up to 10 MB).
const (
	maxBodyBytes = 64 << 10
	// maxRegistrationBytes bounds a DCR request (RFC 7591) and a client ID metadata document.
	maxRegistrationBytes = 64 << 10
)

// registrationJSONLimits bound the JSON of a registration or a metadata document: flat
// objects of strings and string arrays.
var registrationJSONLimits = jsonlimit.Limits{MaxDepth: 8, MaxValues: 2000}

// limitBody caps the request body at maxBodyBytes and parses the form of every POST
// except registration (JSON), so that an oversized body is answered here, with 413 and an
// OAuth error, instead of surfacing as an empty form further on.
func limitBody(w http.ResponseWriter, r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return true
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
	if r.Method != http.MethodPost || r.URL.Path == PathRegister {
		return true
	}
	if err := r.ParseForm(); err != nil {
		writeBodyError(w, err)
		return false
	}
	return true
}

// writeBodyError answers a body that could not be read: 413 when it is too large, else 400.
func writeBodyError(w http.ResponseWriter, err error) {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		w.Header().Set("Connection", "close")
		writeOAuthError(w, http.StatusRequestEntityTooLarge, "invalid_request", "the request body is larger than "+strconv.Itoa(maxBodyBytes>>10)+" KiB")
		return
	}
	writeOAuthError(w, http.StatusBadRequest, "invalid_request", "the request body could not be parsed: "+clip.String(err.Error()))
}

// internalDescriptionPrefix starts the description of every server_error this server
// writes itself; anything else reaching a client as server_error is replaced (see
// sanitizeServerError).
const internalDescriptionPrefix = "internal error (reference "

// internalError logs err at ERROR with a random correlation id and returns what the client
// sees: server_error naming that id and nothing of err (store errors carry DSNs, hosts,
// users and SQL).
func (s *Server) internalError(ctx context.Context, what string, err error) *oidc.Error {
	b := make([]byte, 8)
	rand.Read(b)
	id := hex.EncodeToString(b)
	s.log.ErrorContext(ctx, what, "correlation_id", id, "err", err)
	oe := oidc.ErrServerError().WithDescription("%s%s); try again later", internalDescriptionPrefix, id)
	if p := paramsFrom(ctx); p.internal != nil && *p.internal == "" {
		*p.internal = oe.Description
	}
	return oe
}

// sanitizeServerError returns a description that is safe for a client in place of desc,
// for an error of type code: a server_error not written by internalError is logged (with
// what it said) and replaced.
func (s *Server) sanitizeServerError(ctx context.Context, code, desc string) (string, bool) {
	if code != string(oidc.ServerError) || strings.HasPrefix(desc, internalDescriptionPrefix) {
		return desc, false
	}
	return s.internalError(ctx, "server error", errors.New(desc)).Description, true
}

// sanitized buffers op's responses on the protocol endpoints it serves and passes them
// through flush, so that no server_error op writes can quote an internal error.
func (s *Server) sanitized(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &bufferedResponse{header: http.Header{}}
		next.ServeHTTP(rec, r)
		if r.URL.Path == PathAuthorize || r.URL.Path == PathAuthorizeCallback {
			s.addResponseIssuer(rec)
		}
		s.flush(r.Context(), rec, w, paramsFrom(r.Context()).note)
	})
}

// addResponseIssuer adds iss to an authorization response, success or error, redirected to
// the client (RFC 9207 §2): a client that talks to several authorization servers tells by
// it which one answered, which defeats mix-up attacks. op does not add it. Redirects within
// this server (to the sign-in page) are relative and left alone.
func (s *Server) addResponseIssuer(b *bufferedResponse) {
	loc := b.header.Get("Location")
	if b.status/100 != 3 || loc == "" {
		return
	}
	u, err := url.Parse(loc)
	if err != nil || !u.IsAbs() {
		return
	}
	q := u.Query()
	if q.Get("code") == "" && q.Get("error") == "" {
		return
	}
	q.Set("iss", s.issuer)
	u.RawQuery = q.Encode()
	b.header.Set("Location", u.String())
}

// checkUserinfoToken verifies the bearer token of a userinfo request as an access token of
// this server (VerifyAccessToken: signature, issuer, expiry, revocation, and not an ID
// token) before op answers it. op alone accepts any JWT it signed, ID tokens included,
// since it only checks signature, issuer and expiry.
func (s *Server) checkUserinfoToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := ""
		if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
			tok = strings.TrimSpace(h[7:])
		} else if r.Method == http.MethodPost {
			tok = r.PostFormValue("access_token")
		}
		if tok == "" {
			next.ServeHTTP(w, r) // op answers 401
			return
		}
		_, _, err := s.VerifyAccessToken(r.Context(), tok, "")
		if ae, ok := errors.AsType[*authn.Error](err); ok {
			s.log.InfoContext(r.Context(), "userinfo refused", "reason", ae.Reason, "ip", clientIP(r))
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+strings.ReplaceAll(ae.Description, `"`, `'`)+`"`)
			writeOAuthError(w, http.StatusUnauthorized, "invalid_token", ae.Description)
			return
		}
		if err != nil {
			oe := s.internalError(r.Context(), "verifying a userinfo token failed", err)
			writeOAuthError(w, http.StatusInternalServerError, string(oe.ErrorType), oe.Description)
			return
		}
		// op answers 403 to any error of SetUserinfoFromToken; a server fault (the
		// profile could not be read) becomes a 500 server_error through flush.
		p := requestParams{note: new(string), internal: new(string)}
		r = r.WithContext(context.WithValue(r.Context(), requestParamsKey{}, p))
		rec := &bufferedResponse{header: http.Header{}}
		next.ServeHTTP(rec, r)
		s.flush(r.Context(), rec, w, p.note)
	})
}
