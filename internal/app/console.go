package app

import (
	"cmp"

	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/console"
	"github.com/mcpgate/mcpgate/internal/routepolicy"
)

// console wires the admin console and My account (internal/console).
func (a *App) console() *console.Console {
	o := console.Options{Config: a.cfg, Base: a.base, AuthServer: a.as, Store: a.store, Auditor: a.auditor, Logger: a.log,
		Policy: func(route string) (*routepolicy.Interceptor, bool) {
			ic, ok := a.policies[route] // filled while the routes are built; read per request
			return ic, ok
		}}
	if a.creds != nil && a.creds.Connections != nil {
		o.Connections = a.creds.Connections
		o.ConnectionsURL = cmp.Or(a.creds.ConnectionsPath, config.DefaultConnectionsPath) + "/"
	}
	return console.New(o)
}
