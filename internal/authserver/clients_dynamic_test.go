package authserver

import (
	"context"
	"testing"
)

func TestIsDynamicClient(t *testing.T) {
	env := newTestEnv(t, func(o *Options) {
		o.Clients = []StaticClient{{ID: "ops-console", RedirectURIs: []string{"http://127.0.0.1:7777/cb"}}}
	})
	dcr := env.register("http://127.0.0.1:7777/cb")
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{"ops-console", false}, // configured by an administrator
		{dcr, true},            // registered dynamically
		{"https://client.example.com/metadata.json", true}, // client ID metadata document
		{"00000000-0000-4000-8000-000000000000", false},    // another issuer's client
	} {
		if got := env.as.IsDynamicClient(context.Background(), tt.id); got != tt.want {
			t.Errorf("IsDynamicClient(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}
