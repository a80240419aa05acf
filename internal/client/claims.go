package client

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
)

// DecodeClaims returns the payload of a JWT without verifying it (for display only). Opaque
// tokens give an error.
func DecodeClaims(tok string) (map[string]any, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("the token is not a JWT (opaque token)")
	}
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return nil, errors.New("the token payload is not base64url")
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, errors.New("the token payload is not JSON")
	}
	return m, nil
}
