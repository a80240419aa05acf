package authn

import (
	"strings"

	"github.com/golang-jwt/jwt/v5"
)

// principal maps verified claims to a Principal.
func (st *verifyState) principal(claims jwt.MapClaims, token string) *Principal {
	n := st.is.claims
	p := &Principal{
		Subject:   str(claims[n.subject]),
		Email:     firstStr(claims, n.email),
		Name:      str(claims[n.name]),
		Groups:    ClaimStrings(claims[n.groups], false),
		Roles:     ClaimStrings(claims[n.roles], false),
		ClientID:  firstStr(claims, n.clientID),
		Issuer:    str(claims["iss"]),
		Audience:  st.aud,
		TenantID:  st.tid,
		ExpiresAt: st.exp,
		IssuedAt:  st.iat,
		Claims:    map[string]any(claims),
		TokenHash: HashToken(token),
	}
	if p.TenantID == "" {
		p.TenantID = str(claims["tid"])
	}
	for _, c := range n.scopes {
		if v, ok := claims[c]; ok {
			p.Scopes = ClaimStrings(v, true)
			break
		}
	}
	return p
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func firstStr(claims jwt.MapClaims, names []string) string {
	for _, n := range names {
		if s := str(claims[n]); s != "" {
			return s
		}
	}
	return ""
}

// ClaimStrings reads a claim that is an array of strings or a single string; with split, a
// string is space-separated (the OAuth scope syntax, RFC 6749 §3.3, and Entra's scp).
func ClaimStrings(v any, split bool) []string {
	switch t := v.(type) {
	case string:
		if split {
			return strings.Fields(t)
		}
		if t == "" {
			return nil
		}
		return []string{t}
	case []any:
		out := make([]string, 0, len(t))
		for _, e := range t {
			if s, ok := e.(string); ok && s != "" {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return t
	}
	return nil
}
