package ui

import (
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	tests := []struct {
		name string
		p    Page
		want []string
		not  []string
	}{
		{"default brand inlines the stylesheet", Page{Title: "Hello <x>", Error: "bad & worse"},
			[]string{"<title>Hello &lt;x&gt; · mcpgate</title>", "<style>", "--accent", `role="alert">bad &amp; worse`}, []string{`rel="stylesheet"`}},
		{"branding and stylesheet link", Page{Title: "T", Brand: Branding{Name: "Contoso AI", LogoURL: "/logo.svg"}, StyleURL: "/s.css", User: "Alice"},
			[]string{"Contoso AI", `<img src="/logo.svg" alt="">`, `<link rel="stylesheet" href="/s.css">`, "Signed in as <strong>Alice</strong>"}, []string{"<style>"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			if err := Render(&b, tc.p); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), w) {
					t.Errorf("missing %q in\n%s", w, b.String())
				}
			}
			for _, n := range tc.not {
				if strings.Contains(b.String(), n) {
					t.Errorf("unexpected %q", n)
				}
			}
		})
	}
}
