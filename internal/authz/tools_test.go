package authz

import (
	"testing"
)

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"debug_*", "debug_dump", true},
		{"debug_*", "xdebug_dump", false},
		{"*_item_99?", "get_item_991", true},
		{"*_item_99?", "get_item_99", false},
		{"*", "", true},
		{"a*b*c", "axxbyyc", true},
		{"a*b*c", "axxbyy", false},
		{"fs/*", "fs/read/deep", true},
		{"[ab]_*", "a_x", true},
		{"[ab]_*", "c_x", false},
		{"exact", "exact", true},
		{"exact", "exactly", false},
		{"*quote*", "get_quotes", true},
		{"*quote*", "get_qote", false},
		{"*_dump", "debug_dump", true},
		{"*_dump", "debug_dumps", false},
		{"**", "x", true},
		{"*", "anything", true},
	}
	for _, tt := range tests {
		if got := glob(tt.pattern, tt.name); got != tt.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
		if got := compileGlobs([]string{tt.pattern})[0].match(tt.name); got != tt.want {
			t.Errorf("compiled %q on %q = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func TestToolsIncludeExclude(t *testing.T) {
	tools := NewTools(&ToolsOptions{
		Include:   []string{"get_*", "transfer", "old"},
		Exclude:   []string{"get_secret*"},
		Overrides: map[string]ToolOverride{"old": {Name: "new"}},
	})
	tests := []struct {
		called, upstream string
		ok               bool
	}{
		{"get_quote", "get_quote", true},
		{"get_secret_key", "", false},
		{"transfer", "transfer", true},
		{"delete", "", false},
		{"new", "old", true},
		{"old", "", false},
	}
	// An upstream tool that happens to be called "new" is shadowed by the rename: calls to
	// "new" reach "old", so listing the other one would show a tool nobody can call.
	renameOnly := NewTools(&ToolsOptions{Overrides: map[string]ToolOverride{"old": {Name: "new"}}})
	if renameOnly.Exposed("new") || !renameOnly.Exposed("old") || !renameOnly.Exposed("other") {
		t.Error("a tool named like another tool's new name must not be exposed")
	}
	for _, tt := range tests {
		up, ok := tools.Upstream(tt.called)
		if ok != tt.ok || (ok && up != tt.upstream) {
			t.Errorf("Upstream(%q) = %q, %v; want %q, %v", tt.called, up, ok, tt.upstream, tt.ok)
		}
	}
	var none *Tools
	if up, ok := none.Upstream("x"); !ok || up != "x" || !none.Exposed("y") {
		t.Error("nil Tools must expose everything unchanged")
	}
}
