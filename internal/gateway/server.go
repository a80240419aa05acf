package gateway

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/mcpgate/mcpgate/internal/httplimit"
	"github.com/mcpgate/mcpgate/internal/mcpsession"
)

const (
	wellKnownPRM           = "/.well-known/oauth-protected-resource"
	defaultShutdownTimeout = 30 * time.Second
)

// Server is the gateway: an http.Handler serving every route, its metadata and challenges,
// plus the listener lifecycle (Serve, Shutdown).
type Server struct {
	opts       Options
	log        *slog.Logger
	publicBase string // canonical PublicURL, "" when derived per request
	publicHost string
	trusted    []netip.Prefix
	allowHosts map[string]bool
	routes     map[string]*route
	only       *route // the single route, when there is exactly one
	sessions   mcpsession.Store
	tracer     trace.Tracer // nil: tracing off

	// kill cancels every upstream exchange still running when a graceful shutdown times out.
	// killCtx is also the base context of requests on the gateway's own listener (Serve),
	// which servedKey marks.
	killCtx context.Context
	kill    context.CancelFunc

	mu sync.Mutex
	hs *http.Server

	relays relaySet // relay.go: relayed SSE streams

	states stateSealer // requeststate.go: the gateway's own MRTR requestState
}

// New checks opts and builds a Server.
func New(opts Options) (*Server, error) {
	s := &Server{opts: opts, log: opts.Logger, routes: map[string]*route{}, allowHosts: map[string]bool{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if len(opts.Routes) == 0 {
		return nil, errors.New("gateway: at least one route is required")
	}
	if opts.PublicURL != "" {
		c, err := canonicalURL(opts.PublicURL)
		if err != nil {
			return nil, fmt.Errorf("gateway: public URL: %w", err)
		}
		u, _ := url.Parse(c)
		if u.Path != "" || u.RawQuery != "" {
			return nil, fmt.Errorf("gateway: public URL %q must be scheme://host[:port] only", opts.PublicURL)
		}
		s.publicBase = c
		s.publicHost = hostOnly(u.Host)
	}
	if opts.TracerProvider != nil {
		s.tracer = opts.TracerProvider.Tracer(instrumentation)
	}
	s.relays.off = opts.DisableSSERelay
	s.sessions = opts.Sessions
	if s.sessions == nil {
		s.sessions = mcpsession.NewMemory(0)
	}
	if err := s.states.init(opts.RequestStateKeys, opts.RequestStateTTL, opts.InputWait); err != nil {
		return nil, err
	}
	s.trusted = opts.TrustedProxies
	for _, h := range opts.AllowedHosts {
		s.allowHosts[strings.ToLower(hostOnly(h))] = true
	}
	names := map[string]bool{}
	for i := range opts.Routes {
		rt, err := newRoute(s, opts.Routes[i])
		if err != nil {
			return nil, err
		}
		if names[rt.opts.Name] {
			return nil, fmt.Errorf("gateway: route name %q is used twice", rt.opts.Name)
		}
		if s.routes[rt.opts.Path] != nil {
			return nil, fmt.Errorf("gateway: route path %q is used twice", rt.opts.Path)
		}
		names[rt.opts.Name] = true
		s.routes[rt.opts.Path] = rt
	}
	if len(s.routes) == 1 {
		for _, rt := range s.routes {
			s.only = rt
		}
	}
	s.killCtx, s.kill = context.WithCancel(context.WithValue(context.Background(), servedKey{}, true))
	return s, nil
}

// servedKey marks the contexts of requests that came through Serve (they descend from
// killCtx).
type servedKey struct{}

// Handler returns the gateway's HTTP handler.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	if rt := s.routes[p]; rt != nil {
		rt.serve(w, r)
		return
	}
	if strings.HasPrefix(p, wellKnownPRM) {
		rest := strings.TrimPrefix(p, wellKnownPRM)
		switch {
		case rest == "" || rest == "/":
			if s.only != nil {
				s.only.serveMetadata(w, r)
				return
			}
		case s.routes[rest] != nil:
			s.routes[rest].serveMetadata(w, r)
			return
		}
		if s.opts.Fallback == nil {
			msg := "no protected resource at this path: use " + wellKnownPRM + "<route path>, e.g. " + wellKnownPRM + s.anyPath()
			if rest == "" || rest == "/" {
				msg = "several routes exist, so the root metadata would be ambiguous: use " + wellKnownPRM + "<route path>, e.g. " + wellKnownPRM + s.anyPath()
			}
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "error_description": msg})
			return
		}
	}
	if s.opts.Fallback != nil {
		if s.tracer != nil {
			s.serveTraced(w, r) // trace.go: sign-in and token endpoints get spans too
			return
		}
		s.opts.Fallback.ServeHTTP(w, r)
		return
	}
	writeJSON(w, http.StatusNotFound, map[string]string{
		"error":             "not_found",
		"error_description": fmt.Sprintf("no route serves %s; configured MCP endpoints: %s", p, strings.Join(s.paths(), ", ")),
	})
}

func (s *Server) anyPath() string {
	ps := s.paths()
	if len(ps) == 0 {
		return "/mcp"
	}
	return ps[0]
}

func (s *Server) paths() []string {
	out := make([]string, 0, len(s.opts.Routes))
	for _, r := range s.opts.Routes {
		out = append(out, r.Path)
	}
	return out
}

// Serve accepts connections on ln until ctx ends, then shuts down gracefully (bounded by
// Options.ShutdownTimeout) and returns. With TLS files configured it serves HTTPS.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := s.httpServer()
	done := make(chan error, 1)
	go func() {
		<-ctx.Done()
		timeout := s.opts.ShutdownTimeout
		if timeout <= 0 {
			timeout = defaultShutdownTimeout
		}
		sctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		done <- s.Shutdown(sctx)
	}()
	var err error
	if s.opts.TLSCertFile != "" || s.opts.TLSKeyFile != "" {
		err = hs.ServeTLS(ln, s.opts.TLSCertFile, s.opts.TLSKeyFile)
	} else if s.opts.TLSConfig != nil {
		err = hs.Serve(tls.NewListener(ln, hs.TLSConfig))
	} else {
		err = hs.Serve(ln)
	}
	if !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return <-done
}

func (s *Server) httpServer() *http.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hs != nil {
		return s.hs
	}
	rht := s.opts.ReadHeaderTimeout
	if rht <= 0 {
		rht = 10 * time.Second
	}
	idle := s.opts.IdleTimeout
	if idle <= 0 {
		idle = 120 * time.Second
	}
	s.hs = &http.Server{
		Handler: httplimit.Body(s.Handler(), s.opts.Body),
		// Every request's context ends when a shutdown gives up waiting (s.kill), so the
		// proxy need not hook each request to killCtx itself (see route.proxy).
		BaseContext:       func(net.Listener) context.Context { return s.killCtx },
		ReadHeaderTimeout: rht,
		IdleTimeout:       idle,
		// No WriteTimeout: SSE streams legitimately stay open and idle.
		ErrorLog:  slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		TLSConfig: s.opts.TLSConfig,
	}
	return s.hs
}

// Shutdown stops accepting connections and waits for in-flight requests and open
// streams to finish. When ctx ends first, the remaining upstream exchanges are cancelled
// and their connections closed; Shutdown then returns ctx's error.
func (s *Server) Shutdown(ctx context.Context) error {
	hs := s.httpServer()
	err := hs.Shutdown(ctx)
	if err == nil {
		err = s.relays.wait(ctx) // relay.go: relayed (hijacked) SSE streams are not tracked by http.Server
	}
	if err != nil {
		s.log.Warn("shutdown timed out: closing the remaining streams", "err", err)
		s.kill()
		_ = hs.Close()
	}
	s.kill()
	return err
}
