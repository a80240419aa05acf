package audit

import (
	"regexp"
	"strings"
)

// Redacted replaces a removed value.
const Redacted = "[redacted]"

// Redactor removes configured fields and anything that looks like a credential from
// arguments before they are recorded.
type Redactor struct {
	paths    [][]string
	maxBytes int
}

// RedactOptions say how a route records call arguments.
type RedactOptions struct {
	// RedactFields are dotted argument paths whose values are replaced by Redacted (*
	// matches any key or array element). Credential-like keys and token-like values are
	// always redacted.
	RedactFields []string
	// MaxBytes bounds the recorded arguments (default 8 KiB).
	MaxBytes int64
}

// NewRedactor builds a redactor (nil options → nil: the route records no arguments).
func NewRedactor(a *RedactOptions) *Redactor {
	if a == nil {
		return nil
	}
	r := &Redactor{maxBytes: int(a.MaxBytes)}
	if r.maxBytes <= 0 {
		r.maxBytes = 8 << 10
	}
	for _, f := range a.RedactFields {
		r.paths = append(r.paths, strings.Split(f, "."))
	}
	return r
}

// sensitiveKey matches keys whose values are credentials whatever the configuration says.
var sensitiveKey = regexp.MustCompile(`(?i)(password|passwd|passphrase|secret|token|authorization|auth[_-]?header|api[_-]?key|access[_-]?key|private[_-]?key|credential|cookie|session[_-]?id|bearer|signature|^otp$|^pin$)`)

// tokenValue matches values that look like bearer tokens, JWTs or well-known API keys.
var tokenValue = regexp.MustCompile(`(?i)^bearer\s|^basic\s|^eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.|^(ghp|gho|ghu|ghs|ghr|github_pat)_[A-Za-z0-9_]{20,}|^sk-[A-Za-z0-9_-]{20,}|^xox[abposr]-|^AKIA[0-9A-Z]{16}$|^-----BEGIN [A-Z ]*PRIVATE KEY`)

// Redact returns the arguments with redactions applied, as compact JSON. Arguments that
// are not JSON, or larger than the limit after redaction, are replaced by a marker.
func (r *Redactor) Redact(raw []byte) []byte {
	v, err := decode(raw)
	if err != nil {
		return []byte(`{"unparsable":true}`)
	}
	v = r.walk(v, nil)
	for _, p := range r.paths {
		v = redactPath(v, p)
	}
	out, err := encode(v)
	if err != nil || len(out) > r.maxBytes {
		return []byte(`{"truncated":true}`)
	}
	return out
}

// walk redacts credential-like keys and token-like strings anywhere.
func (r *Redactor) walk(v any, _ []string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if sensitiveKey.MatchString(k) {
				x[k] = Redacted
				continue
			}
			x[k] = r.walk(val, nil)
		}
	case []any:
		for i := range x {
			x[i] = r.walk(x[i], nil)
		}
	case string:
		if tokenValue.MatchString(x) {
			return Redacted
		}
	}
	return v
}

// redactPath replaces the value at a dotted path; "*" matches every key or element.
func redactPath(v any, path []string) any {
	if len(path) == 0 {
		return Redacted
	}
	switch x := v.(type) {
	case map[string]any:
		if path[0] == "*" {
			for k := range x {
				x[k] = redactPath(x[k], path[1:])
			}
		} else if val, ok := x[path[0]]; ok {
			x[path[0]] = redactPath(val, path[1:])
		}
	case []any:
		for i := range x {
			if path[0] == "*" || path[0] == itoa(i) {
				x[i] = redactPath(x[i], path[1:])
			}
		}
	}
	return v
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}

// scrub removes token-like words from free text (error messages).
func scrub(s string) string {
	if s == "" {
		return s
	}
	words := strings.Fields(s)
	changed := false
	for i, w := range words {
		if tokenValue.MatchString(w) || strings.HasPrefix(w, "eyJ") && strings.Count(w, ".") >= 2 {
			words[i] = Redacted
			changed = true
		}
	}
	if strings.Contains(strings.ToLower(s), "bearer ") {
		for i := 0; i+1 < len(words); i++ {
			if strings.EqualFold(words[i], "bearer") && credentialWord(words[i+1]) {
				words[i+1] = Redacted
				changed = true
			}
		}
	}
	if !changed {
		return s
	}
	return strings.Join(words, " ")
}

// credentialWord reports whether the word after "bearer" in free text is a credential
// rather than prose ("requires a bearer token in the Authorization header"): RFC 6750's
// token68 characters, at least 8 of them, and a digit, an upper-case letter after the first
// character or a token68 symbol (-._~+/=) — or at least 20 letters. Trailing punctuation of
// the sentence is ignored.
func credentialWord(w string) bool {
	w = strings.TrimRight(w, ",;:)]}\"'")
	if len(w) < 8 {
		return false
	}
	mixed := false
	for i, c := range w {
		switch {
		case c >= 'a' && c <= 'z':
		case c >= 'A' && c <= 'Z':
			mixed = mixed || i > 0
		case c >= '0' && c <= '9', strings.ContainsRune("-._~+/=", c):
			mixed = true
		default:
			return false
		}
	}
	return mixed || len(w) >= 20
}
