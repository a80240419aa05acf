package app

import (
	"log/slog"
	"os"
	"slices"

	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/upstream"
	"github.com/mcpgate/mcpgate/internal/virtual"
)

// VirtualCredentialRoute is the name under which the upstream credential provider of an
// aggregating route's upstream is registered in upstream.Options.Routes.
func VirtualCredentialRoute(route, upstreamName string) string {
	return route + "/" + upstreamName
}

// VirtualOptions maps routes[i].upstreams to the virtual server's options: each HTTP
// upstream's credential comes from creds (VirtualCredentialRoute), rendered like a
// route's; each command gets PATH, passEnv and env only. getenv reads mcpgate's
// environment (os.LookupEnv when nil).
func VirtualOptions(cfg *config.Config, i int, creds *upstream.Set, log *slog.Logger, getenv func(string) (string, bool)) virtual.Options {
	if getenv == nil {
		getenv = os.LookupEnv
	}
	r := cfg.Routes[i]
	o := virtual.Options{Route: r.Name, IdleTimeout: r.UpstreamsIdleTimeout.D(), Logger: log}
	for _, u := range r.Upstreams {
		vu := virtual.Upstream{Name: u.Name, URL: u.URL, Command: u.Command, Args: u.Args, Dir: u.Dir,
			Shared: u.Shared, MaxProcesses: u.MaxProcesses, Prefix: u.Prefix, Renames: u.Renames,
			ConnectTimeout: u.ConnectTimeout.D(), CallTimeout: u.CallTimeout.D(), MaxLineBytes: u.MaxLineBytes, MaxOutputRate: u.MaxOutputRate}
		if u.Command != "" {
			for _, name := range append([]string{"PATH"}, u.PassEnv...) {
				if v, ok := getenv(name); ok {
					vu.Env = append(vu.Env, name+"="+v)
				}
			}
			for k, v := range u.Env {
				vu.Env = append(vu.Env, k+"="+v)
			}
			slices.Sort(vu.Env)
		}
		if ie := u.IdentityEnv; ie != nil {
			vu.IdentityEnv = virtual.IdentityEnv{Subject: ie.Subject, Email: ie.Email, Name: ie.Name, Groups: ie.Groups, Issuer: ie.Issuer}
		}
		if creds != nil {
			name := VirtualCredentialRoute(r.Name, u.Name)
			if rc, ok := creds.Gateway(name); ok {
				// Typed failures (a connection to link, consent) are answered as on a route.
				vu.Credentials = upstream.CredentialErrors(name, rc, "")
			}
		}
		o.Upstreams = append(o.Upstreams, vu)
	}
	return o
}
