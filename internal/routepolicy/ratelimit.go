package routepolicy

import (
	"context"
	"fmt"
	"time"

	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/mcp"
	"github.com/mcpgate/mcpgate/internal/ratelimit"
)

// rateLimit takes a token from the caller's bucket, then from the route's. A request
// refused by the caller's own limit does not use up the route's budget. A failing shared
// limiter lets the request through (and logs).
//
// This is not ratelimit.Route.Allow: a failing per-user limiter does not skip the
// route-wide one here, and a refusal must name the limit that refused it
// (docs/design.md).
func (ic *Interceptor) rateLimit(ctx context.Context, c *gateway.Call) (gateway.Verdict, bool) {
	if ic.limits == nil {
		return gateway.Verdict{}, false
	}
	who := "ip:" + c.RemoteIP.String()
	if p := c.Principal; p != nil && p.Subject != "" {
		who = p.Subject
	}
	check := func(l ratelimit.Limiter, key, name string, rate *ratelimit.Rate, scope string) (gateway.Verdict, bool) {
		if l == nil {
			return gateway.Verdict{}, false
		}
		res, err := l.Allow(ctx, key)
		if err != nil {
			if ctx.Err() == nil { // not the caller going away
				now := time.Now().UnixNano()
				if last := ic.limitWarnAt.Load(); now-last >= int64(10*time.Second) && ic.limitWarnAt.CompareAndSwap(last, now) {
					ic.log.WarnContext(ctx, "rate limiter unavailable; letting requests through (logged at most every 10 s per route)", "limit", name, "err", err)
				}
			}
			return gateway.Verdict{}, false
		}
		if res.Allowed {
			return gateway.Verdict{}, false
		}
		secs := res.RetryAfterSeconds()
		limit := ""
		if rate != nil {
			limit = fmt.Sprintf(" of %d requests per %s", rate.Requests, rate.Per)
		}
		msg := fmt.Sprintf("route %q: rate limit exceeded: the %s limit%s (rateLimit.%s) is used up; retry in %d s", ic.route, scope, limit, name, secs)
		return gateway.Verdict{Decision: "rate_limited", Reasons: []string{"rate_limit:" + name}, Deny: &gateway.Denial{
			Code: mcp.CodeServerError, Message: msg, RetryAfter: time.Duration(secs) * time.Second,
			Data: map[string]any{"route": ic.route, "reason": "rate_limited", "limit": name, "retryAfter": secs}}}, true
	}
	if v, limited := check(ic.limits.PerUser, "user:"+who, "perUser", ic.perUser, "per-user"); limited {
		return v, true
	}
	return check(ic.limits.PerRoute, "route", "perRoute", ic.perRoute, "route-wide")
}
