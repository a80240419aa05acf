package federation

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/internal/authn"
)

// keyReloads is the global budget of forced JWKS reloads, shared by every connector of the
// process: an id_token that names a key id the cached keys lack makes the connector reload
// its provider's keys at once (a provider such as ORY Hydra signs with a new key as soon as
// it rotates), but no more than a few times a minute, whatever the number of sign-ins or
// connectors. The id_tokens concerned come straight from the provider's token endpoint
// over a connection mcpgate opened, so only the provider can spend the budget; it bounds
// what a misbehaving provider costs.
var keyReloads = newBucket(5, 10*time.Second)

// bucket is a token bucket: burst tokens, one more every per.
type bucket struct {
	mu     sync.Mutex
	tokens float64
	burst  float64
	per    time.Duration
	last   time.Time
}

func newBucket(burst int, per time.Duration) *bucket {
	return &bucket{tokens: float64(burst), burst: float64(burst), per: per}
}

// take spends a token at now; false when none is left.
func (b *bucket) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.last.IsZero() {
		b.tokens = min(b.burst, b.tokens+float64(now.Sub(b.last))/float64(b.per))
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// verifyIDToken verifies an id_token received from the provider's token endpoint. When it
// names a key id the cached keys lack (the provider rotated), the provider's keys are
// reloaded at once — beyond the verifier's own unknown-kid rate limit (one reload per five
// minutes per key set), within keyReloads — and the token is verified again.
func (c *Connector) verifyIDToken(ctx context.Context, raw string) (*authn.Principal, error) {
	v, err := c.idTokenVerifier(ctx)
	if err != nil {
		return nil, err
	}
	p, err := v.Verify(ctx, raw)
	var ae *authn.Error
	if err == nil || !errors.As(err, &ae) || ae.Reason != authn.ReasonUnknownKID {
		return p, err
	}
	if !keyReloads.take(time.Now()) {
		c.log.WarnContext(ctx, "id_token signed with an unknown key; the keys were reloaded too often to reload them again now", "err", err)
		return nil, err
	}
	c.mu.Lock()
	reg := c.registry
	c.mu.Unlock()
	for _, ks := range reg.KeySets(c.cfg.ID) {
		if rerr := ks.Reload(ctx); rerr != nil {
			c.log.WarnContext(ctx, "reloading the provider's signing keys failed", "source", ks.Source(), "err", rerr)
		}
	}
	c.log.InfoContext(ctx, "id_token signed with a new key: the provider's signing keys were reloaded")
	return v.Verify(ctx, raw)
}
