package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func TestExpand(t *testing.T) {
	lookup := env(map[string]string{"HOST": "example.com", "EMPTY": "", "SECRET": "a$b"})
	tests := []struct {
		in, want, err string
	}{
		{in: "plain", want: "plain"},
		{in: "https://${HOST}/mcp", want: "https://example.com/mcp"},
		{in: "${MISSING:-fallback}", want: "fallback"},
		{in: "${EMPTY:-fallback}", want: "fallback"},
		{in: "${EMPTY}", want: ""},
		{in: "${SECRET}", want: "a$b"},
		{in: "pa$$word", want: "pa$word"},
		{in: "pa$word", want: "pa$word"},
		{in: "trailing$", want: "trailing$"},
		{in: "${MISSING}", err: "environment variable MISSING is not set"},
		{in: "${UNCLOSED", err: "unterminated ${"},
		{in: "${1BAD}", err: "invalid variable name"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Expand(tt.in, lookup)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("Expand(%q) error = %v, want containing %q", tt.in, err, tt.err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

const minimal = `
issuers:
  - name: idp
    issuer: https://idp.example.com
routes:
  - name: weather
    path: /weather/mcp
    upstream: {url: http://127.0.0.1:9001/mcp}
    auth: {issuers: [idp]}
`

func TestParseMinimalAndDefaults(t *testing.T) {
	cfg, warnings, err := Parse("test.yaml", []byte(minimal), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Fatalf("unexpected warnings %v", warnings)
	}
	if cfg.Listen != "127.0.0.1:8080" || cfg.Log.Format != "json" || cfg.ShutdownTimeout.D() != 30*time.Second ||
		cfg.Runtime.GCMinHeap == nil || *cfg.Runtime.GCMinHeap != 0 {
		t.Fatalf("defaults not applied: %+v", cfg)
	}
	r := cfg.Routes[0]
	if r.Auth.Mode != "strict" || r.Limits.MaxRequestBytes != 4<<20 || r.Upstream.ResponseTimeout.D() != time.Minute {
		t.Fatalf("route defaults not applied: %+v", r)
	}
	if got := cfg.Issuers[0].Algorithms; len(got) == 0 || got[0] != "RS256" {
		t.Fatalf("issuer algorithms default = %v", got)
	}
}

func TestParseEnvOnlyInValues(t *testing.T) {
	doc := `
listen: ${ADDR:-127.0.0.1:9999}
issuers:
  - name: idp
    issuer: ${ISSUER}
    clockSkew: ${SKEW}
routes:
  - name: r
    path: /r/mcp
    upstream: {url: "http://127.0.0.1:1/mcp"}
    auth: {issuers: [idp]}
`
	cfg, _, err := Parse("t.yaml", []byte(doc), env(map[string]string{"ISSUER": "https://x.example", "SKEW": "2m"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:9999" || cfg.Issuers[0].Issuer != "https://x.example" || cfg.Issuers[0].ClockSkew.D() != 2*time.Minute {
		t.Fatalf("expansion wrong: listen=%q issuer=%q skew=%v", cfg.Listen, cfg.Issuers[0].Issuer, cfg.Issuers[0].ClockSkew)
	}
	// A ${...} in a key is not expanded: it is an unknown key.
	_, _, err = Parse("t.yaml", []byte("${KEY}: 1\n"+minimal), env(map[string]string{"KEY": "listen"}))
	if err == nil || !strings.Contains(err.Error(), `unknown key "${KEY}"`) {
		t.Fatalf("key expansion: err = %v", err)
	}
}

func TestUnknownKeySuggestion(t *testing.T) {
	doc := strings.Replace(minimal, "    auth: {issuers: [idp]}", "    auth: {issuers: [idp]}\n    upstreem: {url: x}", 1)
	_, _, err := Parse("t.yaml", []byte(doc), env(nil))
	var ce *Errors
	if !errors.As(err, &ce) {
		t.Fatalf("want *Errors, got %v", err)
	}
	msg := err.Error()
	for _, want := range []string{"t.yaml", "line 10, column 5", `unknown key "upstreem" in routes[0]`, `did you mean "upstream"?`} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	doc := `
listen: nonsense
publicURL: ftp://x/y
log: {format: xml}
runtime: {gcMinHeap: 1MiB}
issuers:
  - name: idp
    issuer: https://idp.example.com
    algorithms: [none, HS256]
  - name: entra
    entra: {tenant: not-a-guid}
routes:
  - name: a
    path: weather/mcp
    upstream: {url: "127.0.0.1:9001"}
    auth: {mode: strict, issuers: [ipd]}
  - name: a
    path: /b/mcp
    upstream: {url: http://127.0.0.1:1/mcp}
    auth: {mode: lax, issuers: [idp]}
    upstreamAuth: {passthrough: true}
`
	_, _, err := Parse("bad.yaml", []byte(doc), env(nil))
	if err == nil {
		t.Fatal("expected errors")
	}
	msg := err.Error()
	for _, want := range []string{
		`listen: "nonsense" is not host:port`,
		`publicURL: "ftp://x/y" is not an absolute http(s) URL`,
		`log.format: "xml" is not json or text`,
		`runtime.gcMinHeap: 1048576 bytes is below 4MiB`,
		`"none" is never allowed`,
		`"HS256" is refused`,
		`entra.tenant: "not-a-guid" is not a tenant GUID`,
		`routes[0] (a).path: "weather/mcp" must start with /`,
		`routes[0] (a).upstream.url: "127.0.0.1:9001" is not an absolute http(s) URL`,
		`"ipd" is not defined under issuers (did you mean "idp"?)`,
		`routes[1] (a).name: "a" is used by another route`,
		`routes[1] (a).auth.mode: "lax" is not strict, optional or permissive`,
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("errors lack %q; got:\n%s", want, msg)
		}
	}
}

func TestPassthroughWarns(t *testing.T) {
	doc := minimal + "    upstreamAuth: {passthrough: true}\n"
	_, warnings, err := Parse("t.yaml", []byte(doc), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "forbids token passthrough") {
		t.Fatalf("warnings = %v", warnings)
	}
}

// TestGCMinHeapOff: 0 turns the floor off (and is not replaced by the default).
func TestGCMinHeapOff(t *testing.T) {
	cfg, _, err := Parse("t.yaml", []byte("runtime: {gcMinHeap: 0}\n"+minimal), env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if v := cfg.Runtime.GCMinHeap; v == nil || *v != 0 {
		t.Fatalf("gcMinHeap = %v, want 0 kept", v)
	}
}

func TestBadDurationSaysHow(t *testing.T) {
	doc := strings.Replace(minimal, "    issuer: https://idp.example.com", "    issuer: https://idp.example.com\n    clockSkew: 5 minutes", 1)
	_, _, err := Parse("t.yaml", []byte(doc), env(nil))
	if err == nil || !strings.Contains(err.Error(), `"5 minutes" is not a duration: write it like 30s, 5m or 1h30m`) {
		t.Fatalf("err = %v", err)
	}
}

func TestSchemaInSync(t *testing.T) {
	got, err := Schema()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "docs", "config.schema.json")
	if os.Getenv("UPDATE_SCHEMA") == "1" {
		if err := os.WriteFile(path, append(got, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v (regenerate with: make schema)", path, err)
	}
	if strings.TrimSpace(string(want)) != strings.TrimSpace(string(got)) {
		t.Fatalf("%s is out of date with the config types: run `make schema` and commit it", path)
	}
}

func TestReferenceInSync(t *testing.T) {
	got, err := Reference()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("..", "..", "docs", "configuration-reference.md")
	if os.Getenv("UPDATE_SCHEMA") == "1" {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v (regenerate with: make schema)", path, err)
	}
	if string(want) != got {
		t.Fatalf("%s is out of date with the config types: run `make schema` and commit it", path)
	}
	for _, section := range []string{"## Config", "## Route", "## Issuer", "## AuthServer"} {
		if !strings.Contains(got, section+"\n") {
			t.Errorf("reference lacks %s", section)
		}
	}
}
