package config

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole mcpgate configuration file.
type Config struct {
	// Listen is the address the gateway listens on. Default 127.0.0.1:8080.
	Listen string `yaml:"listen,omitempty" json:"listen,omitempty"`
	// PublicURL is the canonical external base URL (scheme://host[:port]) used for resource
	// URIs, metadata and redirects. Default: derived from the request, honouring
	// X-Forwarded-Proto/Host only from trustedProxies.
	PublicURL string `yaml:"publicURL,omitempty" json:"publicURL,omitempty"`
	// TrustedProxies lists CIDRs (or single IPs) whose X-Forwarded-* headers are believed.
	TrustedProxies []string `yaml:"trustedProxies,omitempty" json:"trustedProxies,omitempty"`
	// TLS makes the listener serve HTTPS with the given certificate.
	TLS *TLS `yaml:"tls,omitempty" json:"tls,omitempty"`
	// Log sets the log format and level (logs go to standard error).
	Log Log `yaml:"log,omitempty" json:"log,omitempty"`
	// ShutdownTimeout bounds how long a graceful shutdown waits for in-flight requests and
	// streams to finish. Default 30s.
	ShutdownTimeout Duration `yaml:"shutdownTimeout,omitempty" json:"shutdownTimeout,omitempty"`
	// Runtime tunes the Go runtime of the mcpgate process.
	Runtime Runtime `yaml:"runtime,omitempty" json:"runtime,omitempty"`
	// Limits bound what any client may make the listener hold: slow request bodies and
	// idle MCP sessions. Per-route limits are under routes[].limits.
	Limits ServerLimits `yaml:"limits,omitempty" json:"limits,omitempty"`
	// Admin is the operator's listener: /livez, /readyz, /metrics and optionally pprof,
	// apart from the public port.
	Admin Admin `yaml:"admin,omitempty" json:"admin,omitempty"`
	// Otel turns on OpenTelemetry tracing (OTLP over HTTP). Off by default. The standard
	// OTEL_* environment variables apply (endpoint, headers, service name, sampler).
	Otel *Otel `yaml:"otel,omitempty" json:"otel,omitempty"`
	// Store is where durable state lives (clients, grants, consents, keys, users,
	// connections, audit). Default: SQLite at ./mcpgate.db when something needs a store.
	Store Store `yaml:"store,omitempty" json:"store,omitempty"`
	// Issuers are token issuers shared by routes (referenced by name from routes[].auth.issuers).
	Issuers []Issuer `yaml:"issuers,omitempty" json:"issuers,omitempty"`
	// AuthServer turns on mcpgate's own OAuth 2.1 authorization server.
	AuthServer *AuthServer `yaml:"authServer,omitempty" json:"authServer,omitempty"`
	// Entra turns on the Entra ID compatible profile (emulator).
	Entra *Entra `yaml:"entra,omitempty" json:"entra,omitempty"`
	// RuleSets are named policy rule lists that routes can include.
	RuleSets map[string][]Rule `yaml:"ruleSets,omitempty" json:"ruleSets,omitempty"`
	// Audit records one event per MCP request. Default: JSON lines on standard output.
	Audit *Audit `yaml:"audit,omitempty" json:"audit,omitempty"`
	// Routes map public paths to upstream MCP servers. At least one.
	Routes []Route `yaml:"routes" json:"routes"`

	// UpstreamCredentials holds settings shared by upstreamAuth modes: sealing keys,
	// gatewayJWT signing key, exchange cache and third-party connections (upstream.go).
	UpstreamCredentials *UpstreamCredentials `yaml:"upstreamCredentials,omitempty" json:"upstreamCredentials,omitempty"`
}

// TLS configures the listener's certificate.
type TLS struct {
	// CertFile is the PEM certificate chain.
	CertFile string `yaml:"certFile" json:"certFile"`
	// KeyFile is the PEM private key.
	KeyFile string `yaml:"keyFile" json:"keyFile"`
}

// Log configures logging.
type Log struct {
	// Format is json (default) or text.
	Format string `yaml:"format,omitempty" json:"format,omitempty" jsonschema:"enum=json,enum=text"`
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level,omitempty" json:"level,omitempty" jsonschema:"enum=debug,enum=info,enum=warn,enum=error"`
}

// Runtime tunes the Go runtime of the mcpgate process.
type Runtime struct {
	// GCMinHeap is the heap size below which the garbage collector does not start a
	// collection (default 0: no floor, Go's default pacing). With a small live heap, Go's
	// default pacing collects every few MB allocated, about every 300 requests; a floor
	// such as 64MiB makes that every few thousand, for a few percent less CPU per request,
	// at the cost of up to this much memory, held while traffic lasts. Once the
	// live heap passes half the floor the default pacing applies again. Ignored when the
	// GOGC environment variable is set; the memory limit (GOMEMLIMIT, or 90% of the
	// container's cgroup limit) still bounds the heap.
	GCMinHeap *ByteSize `yaml:"gcMinHeap,omitempty" json:"gcMinHeap,omitempty"`
}

// Store selects the storage backend. Exactly one of sqlite, postgres or memory.
type Store struct {
	// SQLite is the embedded default: one file, no server.
	SQLite *SQLiteStore `yaml:"sqlite,omitempty" json:"sqlite,omitempty"`
	// Postgres is for several replicas sharing state.
	Postgres *PostgresStore `yaml:"postgres,omitempty" json:"postgres,omitempty"`
	// Memory keeps everything in memory (tests; lost on restart).
	Memory *struct{} `yaml:"memory,omitempty" json:"memory,omitempty"`
	// Redis holds shared hot state (rate limits, exchanged-token cache) when several
	// replicas run.
	Redis *RedisStore `yaml:"redis,omitempty" json:"redis,omitempty"`
}

// SQLiteStore is the embedded default.
type SQLiteStore struct {
	// Path of the database file (created when missing).
	Path string `yaml:"path" json:"path"`
}

// PostgresStore is for several replicas.
type PostgresStore struct {
	// DSN is a PostgreSQL connection string, e.g. postgres://mcpgate@db:5432/mcpgate.
	DSN string `yaml:"dsn" json:"dsn"`
}

// RedisStore is shared hot state.
type RedisStore struct {
	// Addr is host:port of the Redis server.
	Addr string `yaml:"addr" json:"addr"`
	// Password, when Redis requires one (use ${VAR}).
	Password string `yaml:"password,omitempty" json:"password,omitempty"`
	// DB is the Redis database number.
	DB int `yaml:"db,omitempty" json:"db,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("30s", "5m", "1h30m").
type Duration time.Duration

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// UnmarshalYAML accepts a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d, column %d: expected a duration such as 30s or 5m", n.Line, n.Column)
	}
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		return fmt.Errorf("line %d, column %d: %q is not a duration: write it like 30s, 5m or 1h30m", n.Line, n.Column, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// ByteSize is a size in bytes, written as a number or with a unit (KB, MB, KiB, MiB).
type ByteSize int64

// UnmarshalYAML accepts 1048576, 1MiB, 512KB.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	v, err := parseByteSize(n.Value)
	if err != nil || n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d, column %d: %q is not a size: write it like 1048576, 512KiB or 4MiB", n.Line, n.Column, n.Value)
	}
	*b = ByteSize(v)
	return nil
}

func parseByteSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s = strings.TrimSpace(strings.TrimSuffix(s, u.suffix))
			mult = u.mult
			break
		}
	}
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil || n < 0 {
		return 0, fmt.Errorf("bad size")
	}
	return n * mult, nil
}

// Admin configures the operator's listener.
type Admin struct {
	// Listen is the admin listener's address. Default 127.0.0.1:9090; "off" turns it off.
	// Keep it off the public network: /metrics and pprof are for operators.
	Listen string `yaml:"listen,omitempty" json:"listen,omitempty"`
	// Pprof serves Go's profiles under /debug/pprof/ on the admin listener.
	Pprof bool `yaml:"pprof,omitempty" json:"pprof,omitempty"`
	// DrainDelay is how long a replica answers /readyz with 503 "draining" after SIGTERM
	// before it stops accepting requests, so that load balancers take it out first.
	// Default 5s; 0s turns the delay off.
	DrainDelay *Duration `yaml:"drainDelay,omitempty" json:"drainDelay,omitempty"`
}

// Otel configures tracing.
type Otel struct {
	// Enabled turns tracing on.
	Enabled bool `yaml:"enabled" json:"enabled"`
	// Endpoint is the OTLP/HTTP traces URL, e.g. http://otel-collector:4318/v1/traces.
	// Default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT, else
	// https://localhost:4318/v1/traces.
	Endpoint string `yaml:"endpoint,omitempty" json:"endpoint,omitempty"`
	// SampleRatio is the share of new traces recorded, between 0 and 1 (traces the client
	// started follow its decision). Default: OTEL_TRACES_SAMPLER, else every trace.
	SampleRatio float64 `yaml:"sampleRatio,omitempty" json:"sampleRatio,omitempty"`
	// ServiceName names the service in traces. Default mcpgate (OTEL_SERVICE_NAME wins).
	ServiceName string `yaml:"serviceName,omitempty" json:"serviceName,omitempty"`
}

// BaseURL is the external base URL: publicURL, else http(s):// plus the listen address
// (an unspecified host replaced by 127.0.0.1). Resource URLs are BaseURL + route path.
func (c *Config) BaseURL() string {
	if c.PublicURL != "" {
		return strings.TrimRight(c.PublicURL, "/")
	}
	scheme := "http"
	if c.TLS != nil {
		scheme = "https"
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return scheme + "://" + c.Listen
	}
	if ip, err := netip.ParseAddr(host); host == "" || (err == nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}
