package doctor

import (
	"net/url"
	"regexp"
	"strings"
)

// entraHosts are the login hosts of Microsoft Entra ID (public and sovereign clouds) and
// the v1 token issuer host.
var entraHosts = map[string]bool{
	"login.microsoftonline.com":        true,
	"login.microsoftonline.us":         true,
	"login.partner.microsoftonline.cn": true,
	"login.chinacloudapi.cn":           true,
	"login.windows.net":                true,
	"sts.windows.net":                  true,
}

var (
	guidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	// emulatorPath is the Entra emulator's issuer shape: /entra/{tenant}/v2.0 under mcpgate,
	// or /{tenant-guid}/v2.0 when it runs on its own.
	emulatorPath = regexp.MustCompile(`(^|/)entra/[^/]+/v2\.0$|^/[0-9a-fA-F-]{36}/v2\.0$`)
	// v1IssuerRE is the v1 token issuer https://sts.windows.net/{tid}/.
	v1IssuerRE = regexp.MustCompile(`^https://sts\.windows\.net/([^/]+)/$`)
	// v2IssuerRE is a v2 issuer {authority}/{tid}/v2.0.
	v2IssuerRE = regexp.MustCompile(`^(https?://[^/]+(?:/.*)?)/([^/]+)/v2\.0$`)
)

// isEntra reports whether an issuer or authorization server URL is Microsoft Entra ID (or
// mcpgate's Entra emulator, which has the same URL shape under /entra/).
func isEntra(issuer string) bool {
	u, err := url.Parse(issuer)
	if err != nil {
		return false
	}
	if entraHosts[strings.ToLower(u.Hostname())] {
		return true
	}
	return emulatorPath.MatchString(strings.TrimSuffix(u.Path, "/"))
}

// isGUID reports whether s is a GUID (an Entra client or tenant id).
func isGUID(s string) bool { return guidRE.MatchString(s) }

// entraTenant returns the tenant of an Entra issuer in either form, and its version (1 or 2).
func entraTenant(iss string) (tenant string, version int) {
	if m := v1IssuerRE.FindStringSubmatch(iss); m != nil {
		return m[1], 1
	}
	if m := v2IssuerRE.FindStringSubmatch(iss); m != nil && isEntra(iss) {
		return m[2], 2
	}
	return "", 0
}
