package authserver

import (
	"context"
	"errors"

	"github.com/mcpgate/mcpgate/internal/store"
)

// IsDynamicClient reports whether clientID was registered dynamically (RFC 7591) or is a
// client ID metadata document URL, rather than configured by an administrator. It backs
// the policy variable client.dynamic. A client this server does not know (one of another
// issuer, e.g. an Entra app registration) is not dynamic; when the store cannot be read the
// answer is true, so that rules restricting dynamic clients fail closed. No metadata
// document is fetched.
func (s *Server) IsDynamicClient(ctx context.Context, clientID string) bool {
	if _, ok := s.clients.static[clientID]; ok {
		return false
	}
	if isCIMDClientID(clientID) {
		return true
	}
	c, err := s.store.GetClient(ctx, clientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return false
	case err != nil:
		return true
	}
	return c.Source != "static"
}
