package gateway

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/mcp"
)

const (
	defaultConnectTimeout  = 5 * time.Second
	defaultResponseTimeout = 60 * time.Second
	defaultMaxRequestBytes = 4 << 20
	defaultCORSMaxAge      = 10 * time.Minute
)

// route is a compiled RouteOptions.
type route struct {
	s          *Server
	opts       RouteOptions
	upstream   *url.URL
	transport  http.RoundTripper
	identity   []string // canonical identity header names (stripped from clients)
	corsAllow  []string // canonical CORS origins
	anyCORS    bool
	allowed    []string // canonical allowed origins
	anyOrigin  bool
	corsHeader string // Access-Control-Allow-Headers value
	corsMaxAge string
	accessLog  slog.Handler    // the server's handler with the route's name pre-rendered
	streams    streamCaps      // open GET streams (sessions.go)
	reserved   map[string]bool // folded names of headers clients may not send upstream (headers.go)
	// params are the Mcp-Param-* bindings of the route's tools, learned from the
	// 2026-07-28 tools/list results the gateway relays: a call to a tool seen listed has
	// its Mcp-Param-* headers checked as the Go SDK server does; before that, only the
	// upstream checks them (protocol.go).
	params mcp.ToolParams
}

func newRoute(s *Server, o RouteOptions) (*route, error) {
	if o.Name == "" {
		return nil, fmt.Errorf("gateway: a route needs a name (path %q)", o.Path)
	}
	if !strings.HasPrefix(o.Path, "/") || strings.HasPrefix(o.Path, "/.well-known/") || strings.ContainsAny(o.Path, "?#") {
		return nil, fmt.Errorf("gateway: route %q: path %q must start with / and not be under /.well-known/", o.Name, o.Path)
	}
	if o.Handler != nil {
		o.Transport = handlerTransport{o.Handler}
		if o.Upstream == "" {
			o.Upstream = inProcessUpstream
		}
	}
	u, err := url.Parse(o.Upstream)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gateway: route %q: upstream %q is not an absolute http(s) URL", o.Name, o.Upstream)
	}
	switch o.Mode {
	case "":
		o.Mode = ModeStrict
	case ModeStrict, ModeOptional, ModePermissive:
	default:
		return nil, fmt.Errorf("gateway: route %q: mode %q is not strict, optional or permissive", o.Name, o.Mode)
	}
	if o.Verifier == nil && o.Mode != ModePermissive {
		return nil, fmt.Errorf("gateway: route %q: mode %s needs a token verifier", o.Name, o.Mode)
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = defaultConnectTimeout
	}
	if o.ResponseTimeout <= 0 {
		o.ResponseTimeout = defaultResponseTimeout
	}
	if o.MaxRequestBytes <= 0 {
		o.MaxRequestBytes = defaultMaxRequestBytes
	}
	if o.MaxSessionsPerUser <= 0 {
		o.MaxSessionsPerUser = defaultMaxSessionsPerUser
	}
	if o.MaxStreamsPerUser <= 0 {
		o.MaxStreamsPerUser = defaultMaxStreamsPerUser
	}
	if o.MaxStreams <= 0 {
		o.MaxStreams = defaultMaxStreams
	}
	if o.ListTTL <= 0 {
		o.ListTTL = defaultListTTL // protocol.go
	}
	if len(o.RequestScopes) == 0 {
		o.RequestScopes = o.Scopes
	}
	if len(o.ScopesSupported) == 0 {
		o.ScopesSupported = o.RequestScopes
	}
	if o.ResourceName == "" {
		o.ResourceName = o.Name
	}
	rt := &route{s: s, opts: o, upstream: u, identity: o.Identity.names(),
		accessLog: s.log.Handler().WithAttrs([]slog.Attr{slog.String("route", o.Name)}),
		streams:   streamCaps{byUser: map[string]int{}}}
	rt.reserved = reservedHeaders(rt.identity)
	rt.transport = o.Transport
	if rt.transport == nil {
		rt.transport = newTransport(o)
	}
	for _, a := range o.AllowedOrigins {
		if a == "*" {
			rt.anyOrigin = true
		} else if c, ok := canonicalOrigin(a); ok {
			rt.allowed = append(rt.allowed, c)
		} else {
			return nil, fmt.Errorf("gateway: route %q: allowed origin %q is not an origin such as https://app.example.com", o.Name, a)
		}
	}
	if c := o.CORS; c != nil {
		for _, a := range c.AllowOrigins {
			if a == "*" {
				rt.anyCORS = true
			} else if co, ok := canonicalOrigin(a); ok {
				rt.corsAllow = append(rt.corsAllow, co)
			} else {
				return nil, fmt.Errorf("gateway: route %q: CORS origin %q is not an origin such as https://app.example.com", o.Name, a)
			}
		}
		hdrs := []string{"Authorization", "Content-Type", "Accept", "Mcp-Session-Id", "MCP-Protocol-Version", "Last-Event-ID", "Mcp-Method", "Mcp-Name"}
		for _, h := range c.AllowHeaders {
			if !slices.ContainsFunc(hdrs, func(x string) bool { return strings.EqualFold(x, h) }) {
				hdrs = append(hdrs, h)
			}
		}
		rt.corsHeader = strings.Join(hdrs, ", ")
		age := c.MaxAge
		if age <= 0 {
			age = defaultCORSMaxAge
		}
		rt.corsMaxAge = fmt.Sprint(int(age.Seconds()))
	}
	return rt, nil
}

func newTransport(o RouteOptions) *http.Transport {
	d := &net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
	t := &http.Transport{
		Proxy:                 nil, // never send MCP traffic through an environment proxy
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   512,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   o.ConnectTimeout,
		ResponseHeaderTimeout: o.ResponseTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,    // pass Content-Encoding through untouched
		WriteBufferSize:       1 << 10, // requests are small; an idle stream holds this buffer
	}
	if o.H2C {
		t.Protocols = new(http.Protocols)
		t.Protocols.SetUnencryptedHTTP2(true)
		t.Protocols.SetHTTP2(true)
	}
	if o.InsecureSkipVerify {
		t.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // explicit operator opt-in
	}
	return t
}

// canonicalOrigin lower-cases an origin and drops a default port.
func canonicalOrigin(o string) (string, bool) {
	u, err := url.Parse(o)
	if err != nil || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", false
	}
	return scheme + "://" + canonicalHost(scheme, u.Host), true
}

// resourceURL is the route's canonical resource identifier for this request.
func (rt *route) resourceURL(base string) string { return base + strings.TrimRight(rt.opts.Path, "/") }

// metadataURL is the path-inserted RFC 9728 metadata URL.
func (rt *route) metadataURL(base string) string { return base + wellKnownPRM + rt.opts.Path }
