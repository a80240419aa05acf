// Package admin serves the operator's listener, apart from the public port: /livez,
// /readyz (each readiness check named, with what failed), /metrics and, when enabled,
// Go's pprof. A replica that is shutting down answers /readyz with 503 "draining" first,
// so that load balancers stop sending it requests before it stops accepting them.
package admin

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"
)

// Check is one readiness check. Run returns nil when the part it checks is usable.
type Check struct {
	Name string
	Run  func(ctx context.Context) error
}

// Options configure the admin server.
type Options struct {
	// Checks decide readiness; each runs with CheckTimeout, all at once.
	Checks []Check
	// CheckTimeout bounds each check (default 2s).
	CheckTimeout time.Duration
	// Metrics serves /metrics (nil: 404).
	Metrics http.Handler
	// Pprof serves Go's profiles under /debug/pprof/.
	Pprof bool
	// Logger receives failed checks (nil = discard).
	Logger *slog.Logger
}

// Server is the admin HTTP surface.
type Server struct {
	opts     Options
	log      *slog.Logger
	draining atomic.Bool
	mux      *http.ServeMux

	mu     sync.Mutex
	failed map[string]bool // checks failing at the last /readyz, to log changes once
}

// New builds a Server.
func New(o Options) *Server {
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 2 * time.Second
	}
	s := &Server{opts: o, log: o.Logger, mux: http.NewServeMux(), failed: map[string]bool{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if o.Metrics != nil {
		s.mux.Handle("GET /metrics", o.Metrics)
	}
	if o.Pprof {
		s.mux.HandleFunc("/debug/pprof/", pprof.Index)
		s.mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		s.mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		s.mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		s.mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return s
}

// Handler returns the admin handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Drain turns /readyz to 503 "draining" for good.
func (s *Server) Drain() { s.draining.Store(true) }

// CheckResult is one check in the /readyz body.
type CheckResult struct {
	Name  string `json:"name"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// Ready runs every check and reports whether all passed (false while draining).
func (s *Server) Ready(ctx context.Context) (bool, []CheckResult) {
	res := make([]CheckResult, len(s.opts.Checks))
	var wg sync.WaitGroup
	for i, c := range s.opts.Checks {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, s.opts.CheckTimeout)
			defer cancel()
			err := c.Run(cctx)
			if errors.Is(err, context.DeadlineExceeded) {
				err = errors.New("no answer within " + s.opts.CheckTimeout.String())
			}
			res[i] = CheckResult{Name: c.Name, OK: err == nil}
			if err != nil {
				res[i].Error = err.Error()
			}
		})
	}
	wg.Wait()
	ok := !s.draining.Load()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range res {
		ok = ok && r.OK
		if !r.OK && !s.failed[r.Name] {
			s.log.Warn("not ready", "check", r.Name, "err", r.Error)
		} else if r.OK && s.failed[r.Name] {
			s.log.Info("ready again", "check", r.Name)
		}
		s.failed[r.Name] = !r.OK
	}
	return ok, res
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ok, res := s.Ready(r.Context())
	body := map[string]any{"status": "ready", "checks": res}
	status := http.StatusOK
	switch {
	case s.draining.Load():
		body["status"], status = "draining", http.StatusServiceUnavailable
	case !ok:
		body["status"], status = "not ready", http.StatusServiceUnavailable
	}
	writeJSON(w, status, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// Serve serves the admin handler on ln until ctx ends.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
	}()
	if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
