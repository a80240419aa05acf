package client

import "strings"

// authChallenge is one challenge of a WWW-Authenticate header: the scheme (lower case) and
// its auth-params (names in lower case, values unquoted; the first of duplicates wins).
type authChallenge struct {
	scheme string
	params map[string]string
}

// parseChallenges reads WWW-Authenticate values (RFC 9110 §11.6.1: challenges separated
// by commas, each a scheme and then a token68 or a list of auth-params whose values are
// tokens or quoted-strings). It never fails: what does not parse is skipped up to the
// next challenge, so that one malformed or unusual challenge does not hide a Bearer one.
//
// oauthex.ParseWWWAuthenticate, used before, failed the whole header on an empty quoted
// value (scope="") and mis-split challenges after a value ending in an escaped backslash.
func parseChallenges(values []string) []authChallenge {
	var out []authChallenge
	for _, v := range values {
		p := &challengeScanner{s: v}
		for {
			p.skip(" \t,")
			if p.done() {
				break
			}
			scheme := p.token()
			if scheme == "" {
				p.skipItem()
				continue
			}
			c := authChallenge{scheme: strings.ToLower(scheme), params: map[string]string{}}
			p.params(&c)
			out = append(out, c)
		}
	}
	return out
}

type challengeScanner struct {
	s string
	i int
}

func (p *challengeScanner) done() bool { return p.i >= len(p.s) }

func (p *challengeScanner) skip(set string) {
	for p.i < len(p.s) && strings.IndexByte(set, p.s[p.i]) >= 0 {
		p.i++
	}
}

func has(m map[string]string, k string) bool { _, ok := m[k]; return ok }

func isTchar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

func (p *challengeScanner) token() string {
	start := p.i
	for p.i < len(p.s) && isTchar(p.s[p.i]) {
		p.i++
	}
	return p.s[start:p.i]
}

// skipItem skips to the next comma outside a quoted-string.
func (p *challengeScanner) skipItem() {
	for p.i < len(p.s) && p.s[p.i] != ',' {
		if p.s[p.i] == '"' {
			p.quoted()
			continue
		}
		p.i++
	}
}

// quoted reads a quoted-string at p.i (an unterminated one runs to the end).
func (p *challengeScanner) quoted() string {
	var b strings.Builder
	for p.i++; p.i < len(p.s); p.i++ {
		switch c := p.s[p.i]; c {
		case '\\':
			if p.i+1 < len(p.s) {
				p.i++
				b.WriteByte(p.s[p.i])
			}
		case '"':
			p.i++
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// params reads the token68 or auth-params after a scheme, up to the next challenge.
func (p *challengeScanner) params(c *authChallenge) {
	first := true
	for {
		p.skip(" \t")
		if p.done() {
			return
		}
		if p.s[p.i] == ',' {
			p.i++
			first = false
			continue
		}
		start := p.i
		name := p.token()
		p.skip(" \t")
		eq := name != "" && p.i < len(p.s) && p.s[p.i] == '='
		if rest := p.s[min(p.i+1, len(p.s)):]; eq && first && (rest == "" || rest[0] == '=' || rest[0] == ',') {
			eq = false // token68 padding ("Basic YWJj=="), not an empty parameter
		}
		switch {
		case eq:
			p.i++ // '='
			p.skip(" \t")
			var val string
			if p.i < len(p.s) && p.s[p.i] == '"' {
				val = p.quoted()
			} else {
				val = p.token()
			}
			if k := strings.ToLower(name); !has(c.params, k) {
				c.params[k] = val
			}
			p.skip(" \t")
			p.skipItem() // anything after the value, up to the next comma, is junk
		case first:
			p.skipItem() // a token68 (it has no commas): not used by Bearer
		case name != "":
			p.i = start // the scheme of the next challenge
			return
		default:
			p.skipItem()
		}
		first = false
	}
}
