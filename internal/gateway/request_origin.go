package gateway

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/mcpgate/mcpgate/internal/loopback"
)

// This file works out where a request comes from and how it was addressed: the client's
// IP through trusted proxies, the external base URL (X-Forwarded-Proto/Host from trusted
// proxies only), and whether its Host header may be served (DNS rebinding protection).

// baseURL is the canonical scheme://host the client used to reach the gateway: PublicURL
// when configured, otherwise the request's own, with X-Forwarded-Proto/Host believed only
// from trusted proxies.
func (s *Server) baseURL(r *http.Request) string {
	if s.publicBase != "" {
		return s.publicBase
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	host := r.Host
	if s.fromTrustedProxy(r) {
		if p := firstValue(r.Header.Get("X-Forwarded-Proto")); p != "" {
			if p = strings.ToLower(p); p == "http" || p == "https" {
				scheme = p
			}
		}
		if h := firstValue(r.Header.Get("X-Forwarded-Host")); h != "" && validHost(h) {
			host = h
		}
	}
	if !validHost(host) {
		host = "localhost"
	}
	return scheme + "://" + canonicalHost(scheme, host)
}

func firstValue(v string) string {
	if i := strings.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return strings.TrimSpace(v)
}

// validHost accepts host[:port] made of DNS/IP characters only, so that it can be
// embedded in URLs, JSON and challenge headers safely.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_') {
			return false
		}
	}
	return true
}

func remoteIP(r *http.Request) (netip.Addr, bool) {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		a, err2 := netip.ParseAddr(r.RemoteAddr)
		return a.Unmap(), err2 == nil
	}
	return ap.Addr().Unmap(), true
}

func (s *Server) fromTrustedProxy(r *http.Request) bool {
	if len(s.trusted) == 0 {
		return false
	}
	ip, ok := remoteIP(r)
	return ok && s.isTrusted(ip)
}

// hostOnly strips a port from host[:port].
func hostOnly(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		return host
	}
	return strings.Trim(h, "[]")
}

// isLoopbackHost reports whether a Host header names this machine's loopback interface:
// loopback.Host, or a subdomain of localhost (RFC 6761 §6.3 reserves them for loopback).
func isLoopbackHost(h string) bool {
	return loopback.Host(h) || strings.HasSuffix(strings.ToLower(hostOnly(h)), ".localhost")
}

// hostAllowed implements DNS rebinding protection: on a loopback listener the Host header
// must name the loopback interface (or the configured public host / allowed hosts).
func (s *Server) hostAllowed(ctx context.Context, r *http.Request) bool {
	la, ok := ctx.Value(http.LocalAddrContextKey).(net.Addr)
	if !ok || la == nil {
		return true
	}
	var local netip.Addr
	if ta, ok := la.(*net.TCPAddr); ok {
		local = ta.AddrPort().Addr() // no string per request
	} else if ap, err := netip.ParseAddrPort(la.String()); err == nil {
		local = ap.Addr()
	}
	if !local.Unmap().IsLoopback() {
		return true
	}
	if isLoopbackHost(r.Host) {
		return true
	}
	h := strings.ToLower(hostOnly(r.Host))
	return (s.publicHost != "" && h == s.publicHost) || s.allowHosts[h]
}

// clientIP is the caller's address: the TCP peer, or, when the peer is a trusted proxy,
// the right-most X-Forwarded-For entry that is not itself a trusted proxy (entries to its
// left could have been written by the client).
func (s *Server) clientIP(r *http.Request) netip.Addr {
	ip, ok := remoteIP(r)
	if !ok || !s.isTrusted(ip) {
		return ip
	}
	xff := r.Header.Values("X-Forwarded-For")
	var hops []string
	for _, v := range xff {
		hops = append(hops, strings.Split(v, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return ip // a malformed chain: believe only the peer
		}
		a = a.Unmap()
		if !s.isTrusted(a) {
			return a
		}
		ip = a
	}
	return ip
}

func (s *Server) isTrusted(ip netip.Addr) bool {
	for _, p := range s.trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
