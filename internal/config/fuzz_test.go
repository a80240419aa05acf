package config

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// mergeBomb is a few hundred bytes of YAML whose merge keys, followed naively, name 2^n
// mappings: {<<: *a, <<: *a} nested n deep.
func mergeBomb(n int) string {
	var b strings.Builder
	b.WriteString("x0: &a0 {listen: a}\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "x%d: &a%d {<<: *a%d, <<: *a%d}\n", i, i, i-1, i-1)
	}
	fmt.Fprintf(&b, "routes:\n  - <<: *a%d\n", n)
	return b.String()
}

// A "billion laughs" of aliases and merge keys is refused in bounded time and memory.
// checkKeys used to follow every alias: 20 levels took 8 s and 5 GB, 30 would have taken
// the process down.
func TestParseAliasBombs(t *testing.T) {
	laughs := func(form string) string {
		var b strings.Builder
		b.WriteString("ruleSets:\n  r:\n    - &a0 {name: x, allow: true}\n")
		for i := 1; i <= 40; i++ {
			fmt.Fprintf(&b, "    - &a%d "+form+"\n", i, i-1)
		}
		return b.String()
	}
	seqBomb := "ruleSets:\n  a0: &a0 [{name: x}]\n"
	for i := 1; i <= 12; i++ {
		seqBomb += fmt.Sprintf("  a%d: &a%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d,", i-1), 10), ","))
	}
	for name, doc := range map[string]string{
		"merge keys, unknown keys": mergeBomb(40),
		"merge keys":               laughs("{<<: *a%[2]d, <<: *a%[2]d}"),
		"merge sequences":          laughs("{<<: [*a%[2]d, *a%[2]d]}"),
		"sequences of aliases":     seqBomb,
	} {
		t.Run(name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _, err := Parse("bomb.yaml", []byte(doc), env(nil))
			runtime.ReadMemStats(&after)
			if err == nil {
				t.Fatalf("alias bomb accepted")
			}
			if a := after.TotalAlloc - before.TotalAlloc; a > 64<<20 {
				t.Fatalf("parsing a %d-byte alias bomb allocated %d MB", len(doc), a>>20)
			}
			if len(err.Error()) > 64<<10 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
		})
	}
}

// FuzzParse: no YAML document makes Parse panic, hang or blow up (aliases, merge keys,
// ${VAR} expansion, tags), and what it accepts has the defaults applied and validates
// again.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"",
		"routes: []",
		"listen: ${HOST:-127.0.0.1}:${PORT}\nroutes:\n  - path: /mcp\n    upstream: {url: http://127.0.0.1:9000}\n",
		"listen: ${",
		"listen: ${}",
		"listen: ${A:-${B}}",
		"listen: ${REC}",
		"listen: $$${A}$",
		"listen: ${9A}",
		"listen: !!binary aGVsbG8=",
		"routes: !!map {}",
		"routes: &r [*r]",
		"a: &a [*a]",
		"routes:\n  - &r {path: /a}\n  - *r\n  - <<: *r\n",
		"routes:\n  - {<<: [*x]}\n",
		"? [a, b]\n: c\n",
		"listen: \xff\xfe",
		"listen: \"\\ud800\"",
		"shutdownTimeout: 99999999999999999999999h",
		"shutdownTimeout: 1e400",
		"limits: {bodyMinRate: -1e308}",
		strings.Repeat("[", 200) + strings.Repeat("]", 200),
		strings.Repeat("- ", 200) + "x",
		strings.Repeat("{a: ", 100) + "b" + strings.Repeat("}", 100),
		mergeBomb(25),
		"---\nlisten: a\n---\nlisten: b\n",
		"%YAML 1.1\n---\nlisten: a",
		"routes:\n  - path: /mcp\n    upstream: {url: ${URL}}\n    policy: {rules: [{name: r, allow: true, require: '${EXPR}'}]}\n",
	} {
		f.Add([]byte(s))
	}
	for _, p := range exampleConfigs(f) {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	lookup := env(map[string]string{
		"HOST": "0.0.0.0", "PORT": "8080", "EMPTY": "", "A": "1", "B": "2",
		"REC": "${A}", "URL": "http://127.0.0.1:9/mcp", "EXPR": "'admin' in user.groups",
		"DOLLAR": "$$", "NL": "a\nb: c", "QUOTE": "\"x", "BIG": strings.Repeat("x", 1000),
	})
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 64<<10 {
			return
		}
		cfg, _, err := Parse("fuzz.yaml", b, lookup)
		if err != nil {
			if cfg != nil {
				t.Fatalf("config returned with an error")
			}
			return
		}
		if _, err := cfg.Validate(); err != nil {
			t.Fatalf("accepted config does not validate again: %v", err)
		}
	})
}

// exampleConfigs lists the example configuration files (seeds for FuzzParse).
func exampleConfigs(testing.TB) []string {
	ps, _ := filepath.Glob("../../examples/*.yaml")
	return ps
}

// FuzzExpand: expansion never panics, leaves text without "$" alone, and is one pass (a
// value from the environment is not expanded again).
func FuzzExpand(f *testing.F) {
	for _, s := range []string{"", "$", "$$", "${", "${}", "${A}", "${A:-}", "${A:-b}", "${:-x}", "${A:-${B}}", "${REC}", "a$${A}", "${É}", "${A\xff}", "${A}}", "${" + strings.Repeat("A", 10000) + "}"} {
		f.Add(s)
	}
	lookup := env(map[string]string{"A": "1", "EMPTY": "", "REC": "${A}", "D": "$$"})
	f.Fuzz(func(t *testing.T, s string) {
		out, err := Expand(s, lookup)
		if err != nil {
			return
		}
		if !strings.Contains(s, "$") && out != s {
			t.Fatalf("Expand(%q) = %q, want it unchanged", s, out)
		}
		if s == "${REC}" && out != "${A}" {
			t.Fatalf("expansion is not one pass: %q", out)
		}
		if s2 := strings.ReplaceAll(s, "$$", ""); !strings.Contains(s2, "${") && strings.Count(out, "$") > strings.Count(s, "$") {
			t.Fatalf("Expand(%q) = %q: more $ than in the input", s, out)
		}
	})
}
