package authserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/mcpgate/mcpgate/internal/clip"
)

// authorizePage puts the browser-facing errors of /authorize on our own page. The OAuth
// library answers a request it cannot redirect (no or unknown client, a redirect_uri that
// is not registered, missing parameters) with bare text, and logs an unknown client as a
// server error. These are the client's mistakes: they are answered here with the shared
// design and logged at INFO; errors that can be redirected still go back to the client.
func (s *Server) authorizePage(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != PathAuthorize || (r.Method != http.MethodGet && r.Method != http.MethodPost) {
			next.ServeHTTP(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			next.ServeHTTP(w, r)
			return
		}
		id := r.Form.Get("client_id")
		refuse := func(title, msg, reason string) {
			s.log.InfoContext(r.Context(), "authorization request refused", "reason", reason,
				"client_id", clip.String(id), "redirect_uri", clip.String(r.Form.Get("redirect_uri")))
			s.message(w, http.StatusBadRequest, title, msg, detailBrokenLink)
		}
		if id == "" {
			refuse("This sign-in link is incomplete", "The application did not say who it is (the client_id parameter is missing).", "missing client_id")
			return
		}
		if _, err := s.clients.get(r.Context(), id); errors.Is(err, errUnknownClient) {
			refuse("Unknown application", "The application that sent you here is not registered with this server.", "unknown client")
			return
		}
		rec := &bufferedResponse{header: http.Header{}}
		next.ServeHTTP(rec, r)
		if rec.status < 400 {
			for k, v := range rec.header {
				w.Header()[k] = v
			}
			if rec.status == 0 {
				rec.status = http.StatusOK
			}
			w.WriteHeader(rec.status)
			w.Write(rec.body.Bytes())
			return
		}
		msg := strings.TrimSpace(rec.body.String())
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(rec.body.Bytes(), &e) == nil && e.Error != "" {
			msg = e.Error
			if e.Description != "" {
				msg += ": " + e.Description
			}
		}
		title := "This sign-in link does not work"
		if rec.status >= 500 {
			title = "Something went wrong"
			s.message(w, rec.status, title, msg, "Try again in a minute. If it keeps failing, tell your administrator.")
			return
		}
		s.message(w, rec.status, title, msg, detailBrokenLink)
	})
}

const detailBrokenLink = "The application that sent you here built a sign-in request this server cannot accept. Go back to it and start again; if this keeps happening, tell the application's developer."
