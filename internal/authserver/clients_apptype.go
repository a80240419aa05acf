package authserver

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/mcpgate/mcpgate/internal/clip"
)

// Application types of registered clients (OpenID Connect Dynamic Client Registration 1.0
// §2, application_type), which decide the redirect URIs a client may register.
const (
	// AppTypeNative is an app on the user's device (CLI, desktop, IDE): redirect URIs are
	// http on a loopback address (RFC 8252 §7.3), a private-use URI scheme (§7.1) or https
	// (a claimed https URL, §7.2).
	AppTypeNative = "native"
	// AppTypeWeb is a web application: redirect URIs are https; http on a loopback address
	// only when the server runs in development mode (AllowInsecureHTTP).
	AppTypeWeb = "web"
)

// uriScheme is RFC 3986 §3.1 scheme syntax.
var uriScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*$`)

// forbiddenSchemes can never be a redirect target: they run script, read local files or
// are not a redirection endpoint at all.
var forbiddenSchemes = map[string]bool{
	"javascript": true, "data": true, "file": true, "vbscript": true, "about": true, "blob": true,
	"ftp": true, "ws": true, "wss": true, "mailto": true, "filesystem": true,
}

// appTypeError is a refused registration: code is invalid_client_metadata or
// invalid_redirect_uri (RFC 7591 §3.2.2), msg names the rule.
type appTypeError struct{ code, msg string }

func (e *appTypeError) Error() string { return e.msg }

// resolveApplicationType checks application_type and the redirect URIs against it and
// returns the type to register.
//
// The default is web (OpenID Connect Registration §2), except that a registration that
// omits application_type and registers a loopback or private-use-scheme redirect URI is
// native: such a URI can only reach an app on the user's machine, and MCP clients written
// before the 2026-07-28 authorization profile (which asks them to send native) register
// loopback URIs without it. An explicit web registration gets the strict web rules.
func resolveApplicationType(appType string, redirectURIs []string, allowedHosts []string, dev bool) (string, error) {
	switch appType {
	case AppTypeNative, AppTypeWeb:
	case "":
		appType = AppTypeWeb
		for _, u := range redirectURIs {
			if k := redirectKind(u); k == kindLoopback || k == kindPrivateScheme {
				appType = AppTypeNative
				break
			}
		}
	default:
		return "", &appTypeError{"invalid_client_metadata", fmt.Sprintf("application_type %q is not supported; use native or web (OpenID Connect Registration §2)", clip.String(appType))}
	}
	for _, raw := range redirectURIs {
		if redirectKind(raw) == kindPrivateScheme {
			if appType != AppTypeNative {
				return "", &appTypeError{"invalid_redirect_uri", fmt.Sprintf("redirect URI %q uses a private-use URI scheme, which only native clients may register (application_type native, RFC 8252 §7.1)", clip.String(raw))}
			}
			if err := validatePrivateScheme(raw); err != nil {
				return "", &appTypeError{"invalid_redirect_uri", err.Error()}
			}
			continue
		}
		if err := validateRedirectURI(raw, allowedHosts); err != nil {
			return "", &appTypeError{"invalid_redirect_uri", err.Error()}
		}
		if appType == AppTypeWeb && redirectKind(raw) == kindLoopback && !dev {
			return "", &appTypeError{"invalid_redirect_uri", fmt.Sprintf("redirect URI %q is http on a loopback address, which web clients may not register (web redirect URIs use https; OpenID Connect Registration §2); register with application_type native for an app on the user's machine", clip.String(raw))}
		}
	}
	return appType, nil
}

type uriKind int

const (
	kindOther uriKind = iota
	kindHTTPS
	kindLoopback      // http on a loopback address
	kindPrivateScheme // neither http nor https
)

func redirectKind(raw string) uriKind {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "" {
		return kindOther
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return kindHTTPS
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return kindLoopback
		}
		return kindOther
	}
	return kindPrivateScheme
}

// validatePrivateScheme checks a native client's private-use URI scheme redirect URI
// (RFC 8252 §7.1): a valid scheme that cannot run script or read files, no fragment.
func validatePrivateScheme(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || !uriScheme.MatchString(u.Scheme) {
		return fmt.Errorf("redirect URI %q is not an absolute URI", clip.String(raw))
	}
	if forbiddenSchemes[strings.ToLower(u.Scheme)] {
		return fmt.Errorf("redirect URI %q: the %s: scheme cannot be a redirect URI", clip.String(raw), strings.ToLower(u.Scheme))
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Errorf("redirect URI %q must not have a fragment (RFC 6749 §3.1.2)", clip.String(raw))
	}
	return nil
}
