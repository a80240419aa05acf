package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
)

// BackchannelLogoutConnector accepts OpenID Connect Back-Channel Logout 1.0 logout tokens
// from its identity provider, posted to PathBackchannelLogout.
type BackchannelLogoutConnector interface {
	Connector
	// BackchannelLogout verifies the logout token (signature, iss, aud, exp, the logout
	// event, no nonce) and ends the user's sign-in at this connector for every replica (the
	// stored upstream tokens are deleted from the shared store, so every later refresh of the
	// user's mcpgate sign-ins is refused and revoked). It returns the mcpgate subject ("" when
	// the token names a provider session mcpgate does not hold: nothing to end), or
	// ErrUnknownUser when the token is not from this connector's provider.
	BackchannelLogout(ctx context.Context, logoutToken string) (userID string, err error)
}

// handleBackchannelLogout is the back-channel logout endpoint (OIDC Back-Channel Logout 1.0
// §2.5): 200 when a connector accepted the logout token, 400 invalid_request otherwise.
func (s *Server) handleBackchannelLogout(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	tok := r.PostFormValue("logout_token")
	fail := func(desc string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_request", "error_description": oauthText(desc)})
	}
	if tok == "" {
		fail("logout_token is required")
		return
	}
	for _, c := range s.opts.Connectors {
		bc, ok := c.(BackchannelLogoutConnector)
		if !ok {
			continue
		}
		sub, err := bc.BackchannelLogout(r.Context(), tok)
		if errors.Is(err, ErrUnknownUser) {
			continue
		}
		if err != nil {
			s.log.WarnContext(r.Context(), "back-channel logout refused", "connector", c.ID(), "err", err)
			fail(err.Error())
			return
		}
		if sub != "" {
			s.log.InfoContext(r.Context(), "back-channel logout: the user's sign-in ended at the identity provider", "connector", c.ID(), "sub", sub)
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	fail("the logout token is not from a configured identity provider")
}
