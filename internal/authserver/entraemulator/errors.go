package entraemulator

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/clip"
	"github.com/mcpgate/mcpgate/internal/config"
)

// aadError is a token endpoint error as Entra renders it. It is a value: handlers return
// it and writeError renders it.
type aadError struct {
	Status   int    // HTTP status (400, or 401 for invalid_client)
	Err      string // error
	Code     int    // AADSTS number
	Msg      string // text after "AADSTSnnnn: "
	SubError string // suberror (consent_required, basic_action, …)
	Claims   string // claims challenge JSON
}

func (e *aadError) Error() string { return fmt.Sprintf("AADSTS%d: %s", e.Code, e.Msg) }

// newErr formats an error. String arguments are request values more often than not
// (client_id, scope, redirect URI, tenant), so each is clipped before it is echoed.
func newErr(status int, err string, code int, format string, args ...any) *aadError {
	for i, a := range args {
		switch v := a.(type) {
		case string:
			args[i] = clip.String(v)
		case error:
			args[i] = clip.String(v.Error())
		}
	}
	return &aadError{Status: status, Err: err, Code: code, Msg: fmt.Sprintf(format, args...)}
}

func invalidRequest(code int, format string, args ...any) *aadError {
	return newErr(http.StatusBadRequest, "invalid_request", code, format, args...)
}

func invalidGrant(code int, format string, args ...any) *aadError {
	return newErr(http.StatusBadRequest, "invalid_grant", code, format, args...)
}

func invalidClient(code int, format string, args ...any) *aadError {
	return newErr(http.StatusUnauthorized, "invalid_client", code, format, args...)
}

func invalidScope(code int, format string, args ...any) *aadError {
	return newErr(http.StatusBadRequest, "invalid_scope", code, format, args...)
}

// errorBody is the JSON error document.
type errorBody struct {
	Error         string `json:"error"`
	Description   string `json:"error_description"`
	ErrorCodes    []int  `json:"error_codes"`
	Timestamp     string `json:"timestamp"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
	ErrorURI      string `json:"error_uri"`
	SubError      string `json:"suberror,omitempty"`
	Claims        string `json:"claims,omitempty"`
}

func (em *Emulator) errorBody(r *http.Request, e *aadError) errorBody {
	now := em.now().UTC().Format("2006-01-02 15:04:05Z")
	trace := newGUID()
	corr := strings.ToLower(r.Header.Get("client-request-id")) // MSAL sends one; echo it as Entra does
	if !config.IsGUID(corr) {
		corr = newGUID()
	}
	return errorBody{
		Error: e.Err,
		Description: fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
			e.Code, e.Msg, trace, corr, now),
		ErrorCodes: []int{e.Code}, Timestamp: now, TraceID: trace, CorrelationID: corr,
		ErrorURI: em.base(r) + "/error?code=" + fmt.Sprint(e.Code),
		SubError: e.SubError, Claims: e.Claims,
	}
}

func (em *Emulator) writeError(w http.ResponseWriter, r *http.Request, e *aadError) {
	b := em.errorBody(r, e)
	em.log.WarnContext(r.Context(), "entra: request refused", "path", r.URL.Path, "error", e.Err,
		"aadsts", e.Code, "suberror", e.SubError, "client_id", clip.String(r.PostForm.Get("client_id")),
		"trace_id", b.TraceID, "reason", e.Msg)
	w.Header().Set("x-ms-request-id", b.TraceID)
	w.Header().Set("client-request-id", b.CorrelationID)
	writeJSON(w, e.Status, b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

func newGUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x40
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func randToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%x", b)
}

// errorTime formats a time for messages.
func errorTime(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05Z") }

// maxFormBytes bounds every request body the emulator reads: forms (token, device code,
// sign-in pages) and Graph JSON. Entra answers larger requests with 413 as well.
const maxFormBytes = 64 << 10

// writeFormError answers a body that could not be parsed as a form: 413 when too large.
func (em *Emulator) writeFormError(w http.ResponseWriter, r *http.Request, err error) {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		e := invalidRequest(900144, "The request body is larger than %d KiB.", maxFormBytes>>10)
		e.Status = http.StatusRequestEntityTooLarge
		em.writeError(w, r, e)
		return
	}
	em.writeError(w, r, invalidRequest(900144, "The request body must be application/x-www-form-urlencoded: %v.", err))
}
