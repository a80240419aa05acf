package authz

import (
	"path"
	"strings"
)

// Tools is a route's tool include/exclude lists, renames and description overrides. A
// nil *Tools exposes every tool unchanged. Names given to and returned by its methods
// are upstream names unless they say otherwise.
type Tools struct {
	include, exclude []matcher
	overrides        map[string]ToolOverride // by upstream name
	toUpstream       map[string]string       // exposed name → upstream name
}

// NewTools compiles a route's tools section (nil → nil).
func NewTools(tf *ToolsOptions) *Tools {
	if tf == nil || (len(tf.Include) == 0 && len(tf.Exclude) == 0 && len(tf.Overrides) == 0) {
		return nil
	}
	t := &Tools{include: compileGlobs(tf.Include), exclude: compileGlobs(tf.Exclude), overrides: tf.Overrides, toUpstream: map[string]string{}}
	for up, o := range tf.Overrides {
		if o.Name != "" && o.Name != up {
			t.toUpstream[o.Name] = up
		}
	}
	return t
}

// matcher is a compiled glob: the common shapes (exact, prefix*, *suffix, *infix*) are
// plain string tests.
type matcher struct {
	kind    byte // '=' exact, 'p' prefix, 's' suffix, 'c' contains, 'g' general
	lit     string
	pattern string
}

func compileGlobs(patterns []string) []matcher {
	out := make([]matcher, 0, len(patterns))
	for _, p := range patterns {
		m := matcher{kind: 'g', pattern: p}
		inner := strings.Trim(p, "*")
		if !strings.ContainsAny(inner, "*?[\\") {
			lead, trail := strings.HasPrefix(p, "*"), strings.HasSuffix(p, "*") && len(p) > 1
			switch {
			case !lead && !trail:
				m = matcher{kind: '=', lit: p}
			case !lead && trail:
				m = matcher{kind: 'p', lit: inner}
			case lead && !trail:
				m = matcher{kind: 's', lit: inner}
			default:
				m = matcher{kind: 'c', lit: inner}
			}
		}
		out = append(out, m)
	}
	return out
}

func (m matcher) match(name string) bool {
	switch m.kind {
	case '=':
		return name == m.lit
	case 'p':
		return strings.HasPrefix(name, m.lit)
	case 's':
		return strings.HasSuffix(name, m.lit)
	case 'c':
		return strings.Contains(name, m.lit)
	}
	return glob(m.pattern, name)
}

// glob matches name against a pattern with * and ? (and [classes], through path.Match);
// unlike path.Match, * also crosses "/" (tool names are not paths).
func glob(pattern, name string) bool {
	if strings.IndexByte(pattern, '[') >= 0 || strings.IndexByte(pattern, '\\') >= 0 {
		if strings.IndexByte(pattern, '/') >= 0 || strings.IndexByte(name, '/') >= 0 {
			pattern = strings.ReplaceAll(pattern, "/", "\x00")
			name = strings.ReplaceAll(name, "/", "\x00")
		}
		ok, _ := path.Match(pattern, name)
		return ok
	}
	// * and ? only: iterative matching with one backtrack point (linear in practice).
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == name[n]):
			p++
			n++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// Exposed reports whether the upstream tool is exposed on the route at all. A tool whose
// name another tool was renamed to is not: clients calling that name reach the renamed
// tool.
func (t *Tools) Exposed(upstream string) bool {
	if t == nil {
		return true
	}
	if _, shadowed := t.toUpstream[upstream]; shadowed {
		return false
	}
	if len(t.include) > 0 {
		in := false
		for _, g := range t.include {
			if g.match(upstream) {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	for _, g := range t.exclude {
		if g.match(upstream) {
			return false
		}
	}
	return true
}

// Upstream maps the name a client called to the upstream tool name. ok is false when no
// exposed tool has that name: it is excluded, or it is the old name of a renamed tool.
func (t *Tools) Upstream(exposed string) (upstream string, ok bool) {
	if t == nil {
		return exposed, true
	}
	if up, renamed := t.toUpstream[exposed]; renamed {
		return up, t.Exposed(up)
	}
	if o, has := t.overrides[exposed]; has && o.Name != "" && o.Name != exposed {
		return "", false // called by its upstream name, but it is exposed under another
	}
	return exposed, t.Exposed(exposed)
}

// Presentation returns the name and description override for an upstream tool ("" when
// unchanged).
func (t *Tools) Presentation(upstream string) (name, description string) {
	if t == nil {
		return "", ""
	}
	o := t.overrides[upstream]
	if o.Name == upstream {
		o.Name = ""
	}
	return o.Name, o.Description
}
