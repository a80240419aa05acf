// Package loopback owns one question: does a host name the loopback interface? Redirect
// URI rules (OAuth 2.1 §8.4.2, RFC 8252 §7.3), the development defaults of a loopback
// issuer and the gateway's DNS-rebinding protection all ask it here.
//
// It imports only the standard library.
package loopback

import (
	"net"
	"net/netip"
	"strings"
)

// Host reports whether host is "localhost" (in any case) or a loopback IP literal
// (127.0.0.0/8, ::1, and IPv4-mapped forms of 127.0.0.0/8). host may carry a port and
// IPv6 brackets ("[::1]:8080"), as a Host header or url.URL.Host does. Other names,
// including subdomains of localhost, are not loopback here: a caller that accepts them
// (RFC 6761 §6.3) says so itself.
func Host(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}
