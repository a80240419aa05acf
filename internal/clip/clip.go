// Package clip bounds client-supplied values before they are echoed in a response or a
// log line: a client_id, redirect_uri or scope can be as long as the request body allows,
// and repeating it whole lets one request fill a log or inflate an error page.
package clip

// Max is the longest value String returns, in runes, before its ellipsis.
const Max = 128

// String returns s unchanged when it has at most Max runes, else its first Max runes
// followed by "…". It cuts on rune boundaries; invalid UTF-8 bytes count as one rune each.
func String(s string) string {
	if len(s) <= Max {
		return s
	}
	n := 0
	for i := range s {
		if n == Max {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// Strings applies String to each element (for slice-valued parameters such as resource).
func Strings(v []string) []string {
	if v == nil {
		return nil
	}
	out := make([]string, len(v))
	for i, s := range v {
		out[i] = String(s)
	}
	if len(out) > 8 {
		out = append(out[:8], "…")
	}
	return out
}
