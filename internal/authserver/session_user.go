package authserver

import "net/http"

// CurrentUser returns the subject signed in to this browser (the authorization server's
// session cookie), for other pages served by the same process (My connections).
func (s *Server) CurrentUser(r *http.Request) (subject string, ok bool) {
	sess, ok := s.getSession(r)
	if !ok {
		return "", false
	}
	return sess.UserID, true
}
