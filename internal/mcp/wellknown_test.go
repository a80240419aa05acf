package mcp

import (
	"slices"
	"testing"
)

func TestWellKnownURLs(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"https://mcp.example.com/tenant/mcp/", []string{"https://mcp.example.com/.well-known/oauth-protected-resource/tenant/mcp", "https://mcp.example.com/.well-known/oauth-protected-resource"}},
		{"https://mcp.example.com", []string{"https://mcp.example.com/.well-known/oauth-protected-resource"}},
		{"https://mcp.example.com/a%2Fb", []string{"https://mcp.example.com/.well-known/oauth-protected-resource/a%2Fb", "https://mcp.example.com/.well-known/oauth-protected-resource"}},
	} {
		if got := ProtectedResourceMetadataURLs(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("ProtectedResourceMetadataURLs(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct {
		in   string
		want []string
	}{
		{"https://login.example.com/tenant/v2.0", []string{"https://login.example.com/.well-known/oauth-authorization-server/tenant/v2.0",
			"https://login.example.com/.well-known/openid-configuration/tenant/v2.0", "https://login.example.com/tenant/v2.0/.well-known/openid-configuration"}},
		{"https://as.example.com/", []string{"https://as.example.com/.well-known/oauth-authorization-server", "https://as.example.com/.well-known/openid-configuration"}},
	} {
		if got, err := AuthServerMetadataURLs(tt.in); err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("AuthServerMetadataURLs(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := AuthServerMetadataURLs("not a url"); err == nil {
		t.Error("an issuer without a host: want an error")
	}
}
