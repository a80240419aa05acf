// Package ui owns the one look of every page a person meets at mcpgate: the stylesheet
// (CSS), the operator's Branding, and Page, a small layout for pages outside the
// authorization server's own templates (connection pages, the CLI's loopback page).
package ui
