package ssrf

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"

	"github.com/mcpgate/mcpgate/internal/loopback"
)

// ErrBlocked: the URL's host is not allowed, or it resolved to an address the guard
// refuses to connect to.
var ErrBlocked = errors.New("address not allowed")

// MaxRedirects bounds the redirects one fetch follows.
const MaxRedirects = 3

// Options configure a guarded client.
type Options struct {
	// Timeout bounds dialling, the TLS handshake, the response headers and the whole
	// request.
	Timeout time.Duration
	// AllowPrivate lifts the address and https checks altogether (local development and
	// tests only).
	AllowPrivate bool
	// Hosts, when not empty, is the allow-list: only URLs on these hosts are fetched,
	// redirects included. An entry is a host name ("auth.example.com"), a wildcard for
	// its subdomains ("*.example.com") or an IP address. An entry that is a loopback or
	// private IP address, or "localhost", also permits connecting to that address, over
	// http too: the explicit way to allow a metadata server on 127.0.0.1.
	Hosts []string
}

// Internal reports whether ip is private, loopback or otherwise not a public unicast
// address (the addresses the guard refuses).
func Internal(ip netip.Addr) bool {
	ip = ip.Unmap()
	return !ip.IsValid() || ip.IsPrivate() || ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsLinkLocalMulticast() ||
		ip.IsInterfaceLocalMulticast() || ip.IsMulticast() || ip.IsUnspecified() ||
		cgnat.Contains(ip) || ietf.Contains(ip) || benchmarking.Contains(ip) || nat64.Contains(ip)
}

var (
	cgnat        = netip.MustParsePrefix("100.64.0.0/10")
	ietf         = netip.MustParsePrefix("192.0.0.0/24")
	benchmarking = netip.MustParsePrefix("198.18.0.0/15")
	nat64        = netip.MustParsePrefix("64:ff9b::/96")
)

// guard holds an allow-list.
type guard struct {
	hosts    []string // lower case; "*.x" for subdomains of x
	internal map[netip.Addr]bool
	any      bool // AllowPrivate
}

func newGuard(o Options) *guard {
	g := &guard{internal: map[netip.Addr]bool{}, any: o.AllowPrivate}
	for _, h := range o.Hosts {
		h = strings.ToLower(strings.TrimSuffix(strings.Trim(h, "[]"), "."))
		if h == "" {
			continue
		}
		g.hosts = append(g.hosts, h)
		if ip, err := netip.ParseAddr(h); err == nil && Internal(ip) {
			g.internal[ip.Unmap()] = true
		}
		if h == "localhost" {
			g.internal[netip.MustParseAddr("127.0.0.1")] = true
			g.internal[netip.MustParseAddr("::1")] = true
		}
	}
	return g
}

// hostAllowed reports whether host is on the allow-list (always true without one).
func (g *guard) hostAllowed(host string) bool {
	if len(g.hosts) == 0 {
		return true
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	for _, h := range g.hosts {
		if h == host || (strings.HasPrefix(h, "*.") && strings.HasSuffix(host, h[1:])) {
			return true
		}
	}
	return false
}

// explicitInternal reports whether host names an internal address the allow-list
// permits (a loopback or private IP literal, or localhost).
func (g *guard) explicitInternal(host string) bool {
	if len(g.internal) == 0 || !g.hostAllowed(host) {
		return false
	}
	if ip, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		return g.internal[ip.Unmap()]
	}
	return loopback.Host(host)
}

// Check reports whether a URL may be fetched: http(s), on the allow-list, and https
// unless its host is an explicitly allowed internal address.
func (g *guard) check(scheme, host string) error {
	if g.any {
		return nil
	}
	if !g.hostAllowed(host) {
		return fmt.Errorf("%w: host %s is not in the allowed metadata hosts", ErrBlocked, host)
	}
	if scheme != "https" && !(scheme == "http" && g.explicitInternal(host)) {
		return fmt.Errorf("%w: %s://%s is not https", ErrBlocked, scheme, host)
	}
	return nil
}

// CheckURL reports whether u is a URL the options allow to fetch (scheme and host; the
// address is checked when connecting).
func CheckURL(o Options, u *url.URL) error {
	return newGuard(o).check(u.Scheme, u.Hostname())
}

// Client returns an HTTP client that only connects to public addresses (and the internal
// addresses the allow-list names), only fetches allowed hosts over https, follows at most
// MaxRedirects redirects, and never goes through a proxy (the address check must see
// the real peer).
func Client(o Options) *http.Client {
	g := newGuard(o)
	dialer := &net.Dialer{Timeout: o.Timeout}
	if !o.AllowPrivate {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil || (Internal(ap.Addr()) && !g.internal[ap.Addr().Unmap()]) {
				return fmt.Errorf("%w: %s is private, loopback or otherwise internal", ErrBlocked, address)
			}
			return nil
		}
	}
	base := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   o.Timeout,
		ResponseHeaderTimeout: o.Timeout,
		MaxIdleConns:          10,
		IdleConnTimeout:       30 * time.Second,
	}
	var rt http.RoundTripper = base
	if len(g.hosts) > 0 {
		rt = hostCheck{g: g, base: base}
	}
	return &http.Client{
		Timeout:   o.Timeout,
		Transport: rt,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) >= MaxRedirects {
				return errors.New("too many redirects")
			}
			return g.check(req.URL.Scheme, req.URL.Hostname())
		},
	}
}

// hostCheck refuses requests to hosts off the allow-list (the first request and every
// redirect, since each goes through the transport).
type hostCheck struct {
	g    *guard
	base http.RoundTripper
}

func (h hostCheck) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := h.g.check(r.URL.Scheme, r.URL.Hostname()); err != nil {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, err
	}
	return h.base.RoundTrip(r)
}
