package authserver

import "net/http"

// methodNotAllowed answers a browser page asked with a method other than GET or POST:
// the shared error page (not library plain text), with Allow set.
func (s *Server) methodNotAllowed(w http.ResponseWriter) {
	w.Header().Set("Allow", "GET, POST")
	s.message(w, http.StatusMethodNotAllowed, "Not allowed", "This page is opened in a browser and its form is sent with the form's button; nothing else is accepted here.", "")
}
