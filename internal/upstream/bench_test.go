package upstream

import (
	"context"
	"net/url"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/mcpgate/mcpgate/internal/authn"
)

// BenchmarkOBOCredential measures calls through the OBO provider against a loopback token
// endpoint: "cached" serves one caller's repeated calls from the exchanged-token cache;
// "cold" gives every call a new caller token, so each one is a real exchange (HTTP POST,
// form, JSON). "baseline_static" is the cheapest provider, for scale.
func BenchmarkOBOCredential(b *testing.B) {
	ts := newTokenServer(b, okToken("downstream-token"))
	ts.reply = func(url.Values) (int, any) {
		return 200, map[string]any{"token_type": "Bearer", "access_token": "downstream-token", "expires_in": 3600}
	}
	newP := func(cache Cache) Provider {
		p, err := NewOBO(OBOConfig{TokenURL: ts.URL, Auth: ClientSecretPost{ID: "app", Secret: "s"}, Scopes: []string{"api://w/.default"}, Cache: CacheOptions{Cache: cache}})
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	b.Run("baseline_static", func(b *testing.B) {
		p, _ := NewStatic(StaticConfig{Value: "k"})
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p.Credential(context.Background(), callerReq())
			}
		})
	})
	b.Run("cached", func(b *testing.B) {
		p := newP(NewMemoryCache(0))
		req := callerReq()
		if _, err := p.Credential(context.Background(), req); err != nil {
			b.Fatal(err)
		}
		before := ts.n.Load()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.Credential(context.Background(), req); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(ts.n.Load()-before)/float64(b.N), "exchanges/op")
	})
	b.Run("cold", func(b *testing.B) {
		p := newP(NewMemoryCache(0))
		var i atomic.Int64
		before := ts.n.Load()
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				tok := "caller-" + strconv.FormatInt(i.Add(1), 10)
				req := Request{Principal: &authn.Principal{Subject: "u", TokenHash: authn.HashToken(tok)}, Token: tok}
				if _, err := p.Credential(context.Background(), req); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(ts.n.Load()-before)/float64(b.N), "exchanges/op")
	})
}
