package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads, expands, strictly decodes, defaults and validates the file at path.
// Validation warnings (for example an explicit token passthrough) are returned separately
// and do not fail the load.
func Load(path string) (*Config, []string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(path, data, os.LookupEnv)
}

// Parse decodes a config document. name is used in error messages; lookup resolves ${VAR}.
func Parse(name string, data []byte, lookup func(string) (string, bool)) (*Config, []string, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			root = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
		} else {
			return nil, nil, fmt.Errorf("%s: %v", name, err)
		}
	}
	var problems []string
	if lookup != nil {
		expandNode(&root, lookup, &problems, name)
	}
	checkKeys(&root, reflect.TypeOf(Config{}), "", name, &problems)
	if len(problems) > 0 {
		return nil, nil, &Errors{File: name, Problems: problems}
	}
	var cfg Config
	if err := root.Decode(&cfg); err != nil {
		return nil, nil, fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	cfg.SetDefaults()
	warnings, err := cfg.Validate()
	if err != nil {
		var ve *Errors
		if errors.As(err, &ve) {
			ve.File = name
		}
		return nil, warnings, err
	}
	return &cfg, warnings, nil
}

// Errors is every problem found in a config file.
type Errors struct {
	File     string
	Problems []string
}

func (e *Errors) Error() string {
	var b strings.Builder
	if e.File != "" {
		fmt.Fprintf(&b, "%s: ", e.File)
	}
	if len(e.Problems) == 1 {
		b.WriteString(e.Problems[0])
		return b.String()
	}
	fmt.Fprintf(&b, "%d problems:", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  - ")
		b.WriteString(p)
	}
	return b.String()
}

// expandNode replaces ${VAR} and ${VAR:-default} in scalar values (never in keys, never in
// tags). "$$" stands for a literal "$". A reference to an unset variable without a default
// is an error, so a missing secret is never silently empty.
func expandNode(n *yaml.Node, lookup func(string) (string, bool), problems *[]string, file string) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			expandNode(c, lookup, problems, file)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			expandNode(n.Content[i+1], lookup, problems, file)
		}
	case yaml.ScalarNode:
		if !strings.Contains(n.Value, "$") {
			return
		}
		out, err := Expand(n.Value, lookup)
		if err != nil {
			*problems = append(*problems, fmt.Sprintf("line %d, column %d: %v", n.Line, n.Column, err))
			return
		}
		if out != n.Value {
			n.Value = out
			// A value that came from the environment is a string unless the field says otherwise;
			// drop the resolved tag so that yaml re-resolves it against the target type.
			if n.Style == 0 {
				n.Tag = ""
			}
		}
	}
}

// Expand expands ${VAR} and ${VAR:-default} in s. "$$" is a literal "$"; any other "$" is
// kept as it is, so secrets containing "$" survive.
func Expand(s string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '{':
			end := strings.IndexByte(s[i+2:], '}')
			if end < 0 {
				return "", fmt.Errorf("unterminated ${ in %q: close it with } or write $$ for a literal $", redactValue(s))
			}
			expr := s[i+2 : i+2+end]
			name, def, hasDef := strings.Cut(expr, ":-")
			if !validEnvName(name) {
				return "", fmt.Errorf("invalid variable name %q in ${%s}: use letters, digits and _", name, expr)
			}
			v, ok := lookup(name)
			switch {
			case ok && (v != "" || !hasDef):
				b.WriteString(v)
			case hasDef:
				b.WriteString(def)
			default:
				return "", fmt.Errorf("environment variable %s is not set: set it, or give a default with ${%s:-value}", name, name)
			}
			i += 2 + end
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if r == '_' || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || (i > 0 && r >= '0' && r <= '9') {
			continue
		}
		return false
	}
	return true
}

func redactValue(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

// checkKeys walks the YAML tree against the Go type and reports unknown keys with their
// position and the closest valid key.
//
// An anchored node is checked once per Go type, however many aliases (and merge keys)
// point at it: following every alias would take time and memory exponential in the
// document's size (a "billion laughs" of merge keys, {<<: *a, <<: *a} nested 30 deep, is
// a few hundred bytes).
func checkKeys(n *yaml.Node, t reflect.Type, path, file string, problems *[]string) {
	_ = file
	c := &keyChecker{problems: problems, seen: map[keyVisit]bool{}}
	c.check(n, t, path)
}

type keyChecker struct {
	problems *[]string
	seen     map[keyVisit]bool // alias targets already checked, per type
}

type keyVisit struct {
	n *yaml.Node
	t reflect.Type
}

func (c *keyChecker) check(n *yaml.Node, t reflect.Type, path string) {
	problems := c.problems
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.DocumentNode {
		for _, ch := range n.Content {
			c.check(ch, t, path)
		}
		return
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		v := keyVisit{n.Alias, t}
		if c.seen[v] {
			return // already checked (its problems, if any, are reported once)
		}
		c.seen[v] = true
		c.check(n.Alias, t, path)
		return
	}
	if reflect.PointerTo(t).Implements(reflect.TypeOf((*yaml.Unmarshaler)(nil)).Elem()) && t.Kind() != reflect.Struct {
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return // type errors are reported by the decoder
		}
		fields := yamlFields(t)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "<<" {
				c.check(v, t, path)
				continue
			}
			ft, ok := fields[k.Value]
			if !ok {
				names := make([]string, 0, len(fields))
				for name := range fields {
					names = append(names, name)
				}
				msg := fmt.Sprintf("line %d, column %d: unknown key %q in %s", k.Line, k.Column, k.Value, orRoot(path))
				if s := closest(k.Value, names); s != "" {
					msg += fmt.Sprintf(" (did you mean %q?)", s)
				} else {
					sort.Strings(names)
					msg += fmt.Sprintf(" (valid keys: %s)", strings.Join(names, ", "))
				}
				*problems = append(*problems, msg)
				continue
			}
			c.check(v, ft, joinPath(path, k.Value))
		}
	case reflect.Slice, reflect.Array:
		if n.Kind != yaml.SequenceNode {
			return
		}
		for i, ch := range n.Content {
			c.check(ch, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			c.check(n.Content[i+1], t.Elem(), joinPath(path, n.Content[i].Value))
		}
	}
}

func orRoot(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// yamlFields maps yaml key names to field types, following inline structs.
func yamlFields(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if strings.Contains(opts, "inline") {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			for k, v := range yamlFields(ft) {
				out[k] = v
			}
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		out[name] = f.Type
	}
	return out
}

// closest returns the candidate nearest to s by edit distance (case-insensitive), if near
// enough to be a plausible typo.
func closest(s string, candidates []string) string {
	best, bestD := "", 1<<30
	ls := strings.ToLower(s)
	for _, c := range candidates {
		d := levenshtein(ls, strings.ToLower(c))
		if d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	limit := len(s)/3 + 1
	if limit < 2 {
		limit = 2
	}
	if bestD <= limit {
		return best
	}
	return ""
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
