// Package guid owns the one check of the GUID format Entra ID uses for tenant, object and
// application ids (8-4-4-4-12 hexadecimal digits). The configuration's validation and the
// token verifier both ask it here.
//
// It imports only the standard library.
package guid

import "strings"

// Valid reports whether s looks like 8-4-4-4-12 hex.
func Valid(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !strings.ContainsRune("0123456789abcdefABCDEF", r) {
				return false
			}
		}
	}
	return true
}
