package upstream

import (
	"context"

	"github.com/mcpgate/mcpgate/internal/store"
)

// Connection status values (store.Connection.Status).
const (
	StatusActive = "active"
	// StatusBroken: the third party refused the refresh token (invalid_grant: revoked,
	// expired, rotated elsewhere). The user must connect again; mcpgate does not retry.
	StatusBroken = "broken"
)

// ConnectionStore is what connections need of the store: every store.Store is one
// (internal/store keeps connections beside the rest of the state, and its conformance
// suite checks them). CompareAndSwapConnection must be atomic across every replica
// sharing the store; lookups that find nothing return an error wrapping
// store.ErrNotFound, lost races one wrapping store.ErrConflict.
type ConnectionStore interface {
	// GetConnection returns the connection or store.ErrNotFound.
	GetConnection(ctx context.Context, subject, provider string) (store.Connection, error)
	// CompareAndSwapConnection writes c if the stored version equals oldVersion (0: the
	// connection must not exist). c.Version must be oldVersion+1. store.ErrConflict
	// otherwise.
	CompareAndSwapConnection(ctx context.Context, oldVersion int64, c store.Connection) error
	// DeleteConnection removes the connection (no error if absent).
	DeleteConnection(ctx context.Context, subject, provider string) error
	// ListConnections returns the subject's connections, ordered by provider.
	ListConnections(ctx context.Context, subject string) ([]store.Connection, error)
}

var _ ConnectionStore = store.Store(nil)
