package federation

import (
	"context"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/store"
)

// BenchmarkUpstreamToken measures what bridge mode adds to an obo/tokenExchange cache miss:
// reading the user's sealed record (memory store), opening it and decoding it. Baseline:
// opening the same sealed value alone.
func BenchmarkUpstreamToken(b *testing.B) {
	t := &testing.T{}
	c, err := New(Options{Config: config.AuthServerConnector{ID: "entra", Type: "entra", ClientID: "app", Entra: &config.EntraConnector{Tenant: "t"}},
		Store: store.NewMemory(), Keys: keyring(t)})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	ident := authserver.Identity{UserID: "entra:t:o", Username: "alice@contoso.com", Email: "alice@contoso.com", Name: "Alice", Groups: []string{"g1", "g2"}}
	// Entra access tokens are ~1.5-2.5 KB, refresh tokens ~1-1.5 KB.
	if err := c.save(ctx, ident, tokenResponse{AccessToken: "eyJ" + strings.Repeat("a", 2000), RefreshToken: strings.Repeat("r", 1200), ExpiresIn: 3600}, record{}); err != nil {
		b.Fatal(err)
	}
	sc, _ := c.opts.Store.GetConnection(ctx, ident.UserID, StoreProvider("entra"))
	b.Run("baseline-open", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.opts.Keys.Open(sc.Sealed, c.aad(ident.UserID)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("UpstreamToken", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.UpstreamToken(ctx, ident.UserID); err != nil {
				b.Fatal(err)
			}
		}
	})
}
