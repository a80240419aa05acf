package console

import (
	"context"
	"log/slog"

	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/routepolicy"
	"github.com/mcpgate/mcpgate/internal/store"
)

// Disconnecter removes a user's connection to a third-party service the way the
// connection pages do (internal/upstream Connections: revoked at the provider, then
// deleted).
type Disconnecter interface {
	Disconnect(ctx context.Context, subject, provider string) error
}

// Options are the console's dependencies.
type Options struct {
	Config *config.Config
	// Base is the public base URL (the same-origin check of form posts).
	Base       string
	AuthServer *authserver.Server
	Store      store.Store
	Auditor    *audit.Auditor
	// Policy returns a route's policy interceptor: the simulator decides through it.
	Policy func(route string) (*routepolicy.Interceptor, bool)
	// Connections, when set, disconnects users' services; nil deletes the stored
	// connection only.
	Connections Disconnecter
	// ConnectionsURL is the My connections page ("" when none is served).
	ConnectionsURL string
	Logger         *slog.Logger
}

// Console serves the admin console and My account.
type Console struct {
	cfg            *config.Config
	base           string
	as             *authserver.Server
	store          store.Store
	auditor        *audit.Auditor
	policy         func(route string) (*routepolicy.Interceptor, bool)
	conns          Disconnecter
	connectionsURL string
	log            *slog.Logger
	health         healthCache // upstream probes
}

// New returns the console. AuthServer, Store, Config and Auditor are required.
func New(o Options) *Console {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	policy := o.Policy
	if policy == nil {
		policy = func(string) (*routepolicy.Interceptor, bool) { return nil, false }
	}
	return &Console{cfg: o.Config, base: o.Base, as: o.AuthServer, store: o.Store, auditor: o.Auditor, policy: policy,
		conns: o.Connections, connectionsURL: o.ConnectionsURL, log: log}
}
