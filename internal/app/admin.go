package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/mcpgate/mcpgate/internal/admin"
	"github.com/mcpgate/mcpgate/internal/metrics"
)

// adminServer builds the admin listener's server: readiness checks for the store, the
// signing keys, every issuer's keys and Redis, and the metrics.
func (a *App) adminServer() *admin.Server {
	var checks []admin.Check
	if st := a.store; st != nil {
		checks = append(checks, admin.Check{Name: "store", Run: st.Ping})
	}
	if as := a.as; as != nil {
		checks = append(checks, admin.Check{Name: "revocation_list", Run: as.RevocationHealth})
		checks = append(checks, admin.Check{Name: "signing_keys", Run: func(ctx context.Context) error {
			ks, err := as.PublicKeys(ctx)
			if err == nil && len(ks.Keys) == 0 {
				err = errors.New("no signing key loaded")
			}
			return err
		}})
	}
	for _, is := range a.cfg.Issuers {
		name := is.Name
		checks = append(checks, admin.Check{Name: "issuer_keys:" + name, Run: func(ctx context.Context) error {
			// Keys loaded once stay usable (cached) while refreshes fail.
			for _, ks := range a.registry.KeySets(name) {
				if err := ks.WaitLoaded(ctx); err != nil {
					return err
				}
			}
			return nil
		}})
	}
	if rdb := a.redis; rdb != nil {
		checks = append(checks, admin.Check{Name: "redis", Run: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }})
	}
	return admin.New(admin.Options{Checks: checks, Metrics: a.metrics.Handler(), Pprof: a.cfg.Admin.Pprof, Logger: a.log.With("component", "admin")})
}

// newMetrics registers the metrics read at scrape time (open streams, key fetches).
func (a *App) newMetrics() *metrics.Metrics {
	m := metrics.New()
	m.KeyFetchesFunc(func() map[string]int {
		out := map[string]int{}
		if a.registry == nil {
			return out
		}
		for _, is := range a.cfg.Issuers {
			for _, ks := range a.registry.KeySets(is.Name) {
				out[is.Name] += int(ks.Fetches())
			}
		}
		return out
	})
	return m
}

// serveAdmin starts the admin listener (unless admin.listen is off) and returns a
// context for the gateway that ends admin.drainDelay after ctx: in between, /readyz says
// "draining" while requests are still served.
func (a *App) serveAdmin(ctx context.Context) (context.Context, func(), error) {
	if a.cfg.Admin.Listen == "off" {
		return ctx, func() {}, nil
	}
	ln, err := net.Listen("tcp", a.cfg.Admin.Listen)
	if err != nil {
		return nil, nil, fmt.Errorf("admin listener on %s: %w (set admin.listen to a free address, or off)", a.cfg.Admin.Listen, err)
	}
	a.adminAddr = ln.Addr().String()
	srv := a.adminServer()
	adminCtx, stopAdmin := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(adminCtx, ln); err != nil {
			a.log.Error("admin listener failed", "err", err)
		}
	}()
	a.log.InfoContext(ctx, "admin listener", "addr", a.adminAddr)
	gwCtx, stopGW := context.WithCancel(context.Background())
	go func() {
		<-ctx.Done()
		srv.Drain()
		var delay time.Duration
		if d := a.cfg.Admin.DrainDelay; d != nil {
			delay = d.D()
		}
		if delay > 0 {
			a.log.Info("draining: /readyz answers 503 before the listener closes", "delay", delay)
			time.Sleep(delay)
		}
		stopGW()
	}()
	return gwCtx, func() { stopGW(); stopAdmin(); <-done }, nil
}

// AdminAddr is the admin listener's address once Serve started it ("" otherwise).
func (a *App) AdminAddr() string { return a.adminAddr }
