package authserver

import (
	"context"
	"net/http"
	"strings"
)

// CurrentUser returns the subject signed in to this browser (the authorization server's
// session cookie), for other pages served by the same process (My connections).
func (s *Server) CurrentUser(r *http.Request) (subject string, ok bool) {
	sess, ok := s.getSession(r)
	if !ok {
		return "", false
	}
	return sess.UserID, true
}

// UserLabel names a subject for pages: the user's name, else email, else username; ""
// when no connector knows the subject.
func (s *Server) UserLabel(r *http.Request, subject string) string {
	id, err := s.lookupIdentity(r.Context(), subject)
	if err != nil {
		return ""
	}
	switch {
	case id.Name != "" && id.Email != "":
		return id.Name + " (" + id.Email + ")"
	case id.Name != "":
		return id.Name
	case id.Email != "":
		return id.Email
	}
	return id.Username
}

// FindUser looks a user up by subject, or by the username of a configured or stored
// local user (admin console's simulator).
func (s *Server) FindUser(ctx context.Context, nameOrSubject string) (Identity, bool) {
	if id, err := s.lookupIdentity(ctx, nameOrSubject); err == nil {
		return id, true
	}
	if id, err := s.lookupIdentity(ctx, "config:"+strings.ToLower(nameOrSubject)); err == nil {
		return id, true
	}
	if u, err := s.store.GetUserByUsername(ctx, nameOrSubject); err == nil {
		if id, err := s.lookupIdentity(ctx, u.ID); err == nil {
			return id, true
		}
	}
	return Identity{}, false
}
