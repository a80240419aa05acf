package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// finish writes the access log line and tells the observer.
func (rt *route) finish(r *http.Request, rec *Event) {
	if rt.s.relays.handOff(rec) { // relay.go: a relayed SSE stream reports when it ends
		return
	}
	if rec.release != nil {
		rec.release()
	}
	rec.Latency = time.Since(rec.Start)
	if rec.Status == 0 {
		rec.Status = http.StatusOK
	}
	ctx := r.Context()
	if h := rt.accessLog; h.Enabled(ctx, slog.LevelInfo) {
		attrs := make([]slog.Attr, 0, 14)
		attrs = append(attrs,
			slog.String("method", r.Method),
			slog.Int("status", rec.Status),
			slog.Duration("latency", rec.Latency),
		)
		if rec.MCPMethod != "" {
			attrs = append(attrs, slog.String("mcp_method", rec.MCPMethod))
		}
		if rec.ProtocolVersion != "" {
			attrs = append(attrs, slog.String("mcp_protocol", rec.ProtocolVersion))
		}
		if t := firstNonEmpty(rec.Tool, rec.URI, rec.Prompt); t != "" {
			attrs = append(attrs, slog.String("mcp_target", t))
		}
		if rec.UpstreamStatus != 0 {
			attrs = append(attrs, slog.Int("upstream_status", rec.UpstreamStatus))
		}
		if p := rec.Principal; p != nil {
			attrs = append(attrs, slog.String("subject", p.Subject), slog.String("client_id", p.ClientID))
		}
		if rec.Decision != "" {
			attrs = append(attrs, slog.String("decision", rec.Decision))
		}
		if len(rec.Rules) > 0 {
			attrs = append(attrs, slog.Any("rules", rec.Rules))
		}
		if len(rec.Reasons) > 0 {
			attrs = append(attrs, slog.Any("reasons", rec.Reasons))
		}
		if rec.Error != "" {
			attrs = append(attrs, slog.String("error", rec.Error))
		}
		if rec.RemoteIP.IsValid() {
			attrs = append(attrs, slog.String("remote", rec.RemoteIP.String()))
		}
		// A record of our own rather than Logger.LogAttrs: with pc 0 there is no
		// runtime.Callers per request (an access line has no useful source position).
		line := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
		line.AddAttrs(attrs...)
		_ = h.Handle(ctx, line)
	}
	if o := rt.opts.Observer; o != nil {
		o.Observe(context.WithoutCancel(ctx), rec)
	}
	if o := rt.s.opts.Observer; o != nil {
		o.Observe(context.WithoutCancel(ctx), rec)
	}
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
