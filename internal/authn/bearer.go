package authn

import "strings"

// BearerToken returns the token of an Authorization header value of the form RFC 6750
// §2.1 defines: the scheme "Bearer" (case-insensitive, RFC 9110 §11.1), one space, and a
// non-empty token without whitespace. ok is false for anything else (no header, another
// scheme, an empty token, more than one space).
//
// It is the one bearer parser of mcpgate: the gateway, the upstream credential broker,
// the Entra emulator's Graph endpoint and the demo servers all use it.
func BearerToken(header string) (token string, ok bool) {
	const scheme = "bearer "
	if len(header) <= len(scheme) || !strings.EqualFold(header[:len(scheme)], scheme) {
		return "", false
	}
	token = header[len(scheme):]
	if strings.ContainsAny(token, " \t") {
		return "", false
	}
	return token, true
}
