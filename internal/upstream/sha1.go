package upstream

import "crypto/sha1" //nolint:gosec // x5t is defined as a SHA-1 thumbprint; it is an identifier, not a security check.

func sha1Sum(b []byte) []byte {
	s := sha1.Sum(b)
	return s[:]
}
