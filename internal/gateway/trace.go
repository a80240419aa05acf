package gateway

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing: with Options.TracerProvider set, each request on a route is a server span
// (continuing the client's W3C trace context) with children for the token check, the
// policy, the upstream credential and the upstream call, whose trace context reaches the
// upstream in traceparent. Attributes carry the route, the MCP method and target, the
// decision, the status and a hash of the caller's identity: never a token, a claim in clear
// or an argument value. Without a provider there is no span and no cost.

const instrumentation = "github.com/mcpgate/mcpgate/internal/gateway"

var propagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// startRequestSpan starts the request's server span, or returns r unchanged and a nil
// span when tracing is off.
func (rt *route) startRequestSpan(r *http.Request) (*http.Request, trace.Span) {
	if rt.s.tracer == nil {
		return r, nil
	}
	ctx := propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := rt.s.tracer.Start(ctx, r.Method+" "+rt.opts.Path, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("mcpgate.route", rt.opts.Name), attribute.String("http.request.method", r.Method)))
	return r.WithContext(ctx), span
}

// endRequestSpan records what became of the request on its span.
func endRequestSpan(span trace.Span, rec *Event) {
	if span == nil {
		return
	}
	attrs := []attribute.KeyValue{
		attribute.Int("http.response.status_code", rec.Status),
		attribute.String("mcpgate.decision", rec.Decision),
	}
	if rec.MCPMethod != "" {
		attrs = append(attrs, attribute.String("mcp.method.name", rec.MCPMethod))
	}
	if t := firstNonEmpty(rec.Tool, rec.Prompt); t != "" {
		attrs = append(attrs, attribute.String("mcp.target", t))
	}
	if rec.Principal != nil {
		attrs = append(attrs, attribute.String("mcpgate.subject_hash", rec.keys.user()))
	}
	if len(rec.Reasons) > 0 {
		attrs = append(attrs, attribute.StringSlice("mcpgate.reasons", rec.Reasons))
	}
	span.SetAttributes(attrs...)
	if rec.Status >= 500 {
		span.SetStatus(codes.Error, rec.Decision)
	}
	span.End()
}

// childSpan starts a child of the request's span (a no-op span when tracing is off).
func (rt *route) childSpan(ctx context.Context, name string, kind trace.SpanKind) (context.Context, trace.Span) {
	if rt.s.tracer == nil {
		return ctx, noopSpan
	}
	return rt.s.tracer.Start(ctx, name, trace.WithSpanKind(kind))
}

var noopSpan = trace.SpanFromContext(context.Background()) // a non-recording span: End and SetAttributes do nothing

// injectTrace writes the current span's context into the upstream request's header.
func (rt *route) injectTrace(ctx context.Context, h http.Header) {
	if rt.s.tracer != nil {
		propagator.Inject(ctx, propagation.HeaderCarrier(h))
	}
}

// serveTraced serves the Fallback (the authorization server, the Entra profile, the
// connection pages) inside a server span named for its path: the token endpoint and the
// sign-in pages appear in traces beside the MCP requests.
func (s *Server) serveTraced(w http.ResponseWriter, r *http.Request) {
	ctx := propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := s.tracer.Start(ctx, r.Method+" "+spanPath(r.URL.Path), trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.request.method", r.Method), attribute.String("url.path", spanPath(r.URL.Path))))
	sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
	s.opts.Fallback.ServeHTTP(sw, r.WithContext(ctx))
	span.SetAttributes(attribute.Int("http.response.status_code", sw.code))
	if sw.code >= 500 {
		span.SetStatus(codes.Error, http.StatusText(sw.code))
	}
	span.End()
}

// spanPath bounds a path for a span name: long or odd paths (ids, tenants) are cut.
func spanPath(p string) string {
	if len(p) > 64 {
		return p[:64] + "…"
	}
	return p
}

// statusWriter records the status code; Unwrap keeps http.ResponseController working.
type statusWriter struct {
	http.ResponseWriter
	code  int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.code, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
