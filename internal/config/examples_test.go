package config

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// exampleEnv holds the environment variables the examples and the documentation's
// configurations refer to as ${VAR}, with values of the right shape. A reference to any
// other unset variable is a problem, as it is for mcpgate config validate.
var exampleEnv = map[string]string{
	"AGENT_CLIENT_SECRET":       "example-agent-client-secret",
	"ATLASSIAN_CLIENT_ID":       "example-atlassian-client-id",
	"ATLASSIAN_CLIENT_SECRET":   "example-atlassian-client-secret",
	"ENTRA_CLIENT_SECRET":       "example-entra-client-secret",
	"GITHUB_CLIENT_ID":          "Iv1.0123456789abcdef",
	"GITHUB_CLIENT_SECRET":      "example-github-client-secret",
	"KC_CLIENT_SECRET":          "example-keycloak-client-secret",
	"MCPGATE_APP_ID":            "3f6c0a5e-0000-4000-8000-0000000000a1",
	"MCPGATE_APP_SECRET":        "example-app-secret",
	"MCPGATE_DATABASE_URL":      "postgres://mcpgate@db.internal:5432/mcpgate?sslmode=verify-full",
	"MCPGATE_ENTRA_SECRET":      "example-entra-client-secret",
	"MCPGATE_OBO_SECRET":        "example-obo-client-secret",
	"MCPGATE_OPS_PASSWORD_HASH": "$argon2id$v=19$m=65536,t=3,p=2$khhzTzwiiTGqUh2QEPQ1mA$744doDIJY4zMJgpxYAlT47dyD76aqHfMC0Kav4eSHiQ",
	"REDIS_PASSWORD":            "example-redis-password",
	"REPORTS_CLIENT_SECRET":     "example-reports-client-secret",
}

// hostFile matches the problems that only say a file named in the configuration is absent
// from this machine: the examples put certificates, keys and logs where they go on the
// deployment host (/etc/mcpgate, /var/log/mcpgate), which the test does not create.
var hostFile = regexp.MustCompile(`(cannot read (/\S+): stat /\S+: no such file or directory|directory /\S+ does not exist; create it or pick another path)$`)

// validateExample parses data as mcpgate config validate does (Parse with the environment)
// and returns the problems, less those about files on the deployment host.
func validateExample(name string, data []byte) []string {
	lookup := func(k string) (string, bool) { v, ok := exampleEnv[k]; return v, ok }
	_, _, err := Parse(name, data, lookup)
	if err == nil {
		return nil
	}
	var ve *Errors
	if !errors.As(err, &ve) {
		return []string{err.Error()}
	}
	var out []string
	for _, p := range ve.Problems {
		if !hostFile.MatchString(p) {
			out = append(out, p)
		}
	}
	return out
}

// TestExamples validates every examples/*.yaml as mcpgate config validate does.
func TestExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no examples/*.yaml found")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if problems := validateExample(f, data); len(problems) > 0 {
				t.Errorf("%s is not a valid configuration:\n  - %s", f, strings.Join(problems, "\n  - "))
			}
		})
	}
}

// fragmentMarker, on the line right before a ```yaml fence in README.md or docs/*.md,
// marks a block that shows only part of a configuration although it has listen: or routes:
// at its top level; TestDocConfigs skips it.
const fragmentMarker = "<!-- config: fragment -->"

// docBlock is a ```yaml block of a Markdown file.
type docBlock struct {
	file     string
	line     int // of the opening fence
	text     string
	fragment bool
}

// yamlBlocks returns the ```yaml fenced blocks of a Markdown file.
func yamlBlocks(file string, data []byte) []docBlock {
	var (
		blocks []docBlock
		cur    *docBlock
		prev   string
		body   strings.Builder
	)
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case cur == nil && (trimmed == "```yaml" || trimmed == "```yml"):
			cur = &docBlock{file: file, line: n, fragment: strings.TrimSpace(prev) == fragmentMarker}
			body.Reset()
		case cur != nil && trimmed == "```":
			cur.text = body.String()
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			body.WriteString(line)
			body.WriteByte('\n')
		}
		prev = line
	}
	return blocks
}

// topLevelConfig matches a top-level listen: or routes: key, which makes a block a complete
// configuration.
var topLevelConfig = regexp.MustCompile(`(?m)^(listen|routes):`)

// TestDocConfigs validates every complete configuration shown in README.md and docs/*.md
// (a ```yaml block with listen: or routes: at its top level), as mcpgate config validate
// does. A block marked as a fragment (fragmentMarker) is skipped.
func TestDocConfigs(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	files = append([]string{filepath.Join("..", "..", "README.md")}, files...)
	checked := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range yamlBlocks(f, data) {
			if b.fragment || !topLevelConfig.MatchString(b.text) {
				continue
			}
			checked++
			name := fmt.Sprintf("%s:%d", filepath.ToSlash(strings.TrimPrefix(f, filepath.Join("..", "..")+string(filepath.Separator))), b.line)
			t.Run(name, func(t *testing.T) {
				if problems := validateExample(name, []byte(b.text)); len(problems) > 0 {
					t.Errorf("the configuration at %s is not valid (fix it, or mark it %s on the line before its fence):\n  - %s",
						name, fragmentMarker, strings.Join(problems, "\n  - "))
				}
			})
		}
	}
	if checked == 0 {
		t.Fatal("no configuration found in README.md and docs/*.md")
	}
}
