package app

import (
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/gateway"
)

// routeHooks is replaced by RouteHooks (hooks.go) once policy and audit are wired.
var routeHooks = func(cfg *config.Config, i int, deps any) (gateway.Interceptor, gateway.Observer, error) {
	return nil, nil, nil
}

func (a *App) hookDeps() any { return nil }
