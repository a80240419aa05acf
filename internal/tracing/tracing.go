// Package tracing sets up OpenTelemetry tracing for mcpgate: an OTLP/HTTP exporter, the
// service's resource and a sampler, from its Options and the standard OTEL_* environment
// variables (OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
// OTEL_EXPORTER_OTLP_HEADERS, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,
// OTEL_TRACES_SAMPLER...). Tracing is off unless Options.Enabled.
package tracing

import (
	"context"
	"fmt"
	"net/url"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

// Options configure tracing.
type Options struct {
	// Enabled turns tracing on.
	Enabled bool
	// Endpoint is the OTLP/HTTP traces URL (e.g. http://collector:4318/v1/traces). Empty:
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT, else
	// https://localhost:4318/v1/traces.
	Endpoint string
	// SampleRatio is the share of new traces recorded (0 < r ≤ 1); a trace the client
	// started follows the client's sampling decision. 0: OTEL_TRACES_SAMPLER or always.
	SampleRatio float64
	// ServiceName names the service (default mcpgate; OTEL_SERVICE_NAME wins).
	ServiceName string
	// Version is the service version.
	Version string
}

// Provider is a started tracer provider. Shutdown flushes the spans still buffered.
type Provider struct {
	*sdktrace.TracerProvider
}

// Start builds the provider; nil (and no error) when tracing is off.
func Start(ctx context.Context, o Options) (*Provider, error) {
	if !o.Enabled {
		return nil, nil
	}
	var eo []otlptracehttp.Option
	if o.Endpoint != "" {
		if _, err := url.Parse(o.Endpoint); err != nil {
			return nil, fmt.Errorf("tracing endpoint %q: %w", o.Endpoint, err)
		}
		eo = append(eo, otlptracehttp.WithEndpointURL(o.Endpoint))
	}
	exp, err := otlptracehttp.New(ctx, eo...)
	if err != nil {
		return nil, fmt.Errorf("tracing exporter: %w", err)
	}
	name := o.ServiceName
	if name == "" {
		name = "mcpgate"
	}
	res, err := resource.New(ctx, resource.WithAttributes(semconv.ServiceName(name), semconv.ServiceVersion(o.Version)), resource.WithFromEnv())
	if err != nil {
		return nil, fmt.Errorf("tracing resource: %w", err)
	}
	po := []sdktrace.TracerProviderOption{sdktrace.WithBatcher(exp), sdktrace.WithResource(res)}
	if o.SampleRatio > 0 {
		po = append(po, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(o.SampleRatio))))
	}
	return &Provider{sdktrace.NewTracerProvider(po...)}, nil
}

// Interface guard.
var _ trace.TracerProvider = (*Provider)(nil)
