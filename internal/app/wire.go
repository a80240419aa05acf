package app

// routeHooks builds a route's interceptor and observer (hooks.go); a variable so that
// tests can observe the wiring.
var routeHooks = RouteHooks

// hookDeps are the process-wide parts the route hooks use.
func (a *App) hookDeps() HookDeps {
	d := HookDeps{Auditor: a.auditor, Logger: a.log}
	if a.creds != nil {
		d.UpstreamModes = a.creds.Mode
	}
	if a.as != nil {
		d.DynamicClient = a.as.IsDynamicClient
	}
	return d
}
