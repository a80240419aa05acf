// Package metrics owns mcpgate's Prometheus metrics: their names, help texts and
// labels (docs/operations.md lists them), the registry and the /metrics handler.
//
// Most metrics come from the gateway's events (Observe: one per finished request), so the
// request path gains no code of its own; values that are state rather than events (open
// streams, JWKS fetches) are read when Prometheus scrapes. Labels are bounded: route
// names, HTTP methods and status codes, and the gateway's own decision and reason
// identifiers. A user id, a token or an argument value is never a label.
package metrics

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/mcpgate/mcpgate/internal/gateway"
)

// Metrics holds the registry and the collectors.
type Metrics struct {
	reg *prometheus.Registry
	authMetrics

	requests        *prometheus.CounterVec
	duration        *prometheus.HistogramVec
	upstream        *prometheus.HistogramVec
	verifications   *prometheus.CounterVec
	decisions       *prometheus.CounterVec
	refusals        *prometheus.CounterVec
	streamsFinished *prometheus.CounterVec
}

// New returns Metrics with the Go runtime and process collectors registered.
func New() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcpgate_requests_total",
		Help: "MCP requests handled by the gateway, by route, HTTP method, status code and decision.",
	}, []string{"route", "method", "code", "decision"})
	m.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mcpgate_request_duration_seconds",
		Help:    "Time from a request's arrival to its last response byte (POST and DELETE; GET streams are counted in mcpgate_streams_finished_total).",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"route", "method"})
	m.upstream = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mcpgate_upstream_duration_seconds",
		Help:    "Time from sending a request upstream to the upstream's response headers.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
	}, []string{"route"})
	m.verifications = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcpgate_token_verifications_total",
		Help: "Bearer tokens checked on MCP requests, by route, result (valid, rejected, missing, error) and the rejection reason.",
	}, []string{"route", "result", "reason"})
	m.decisions = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcpgate_policy_decisions_total",
		Help: "Decisions on authenticated MCP requests, by route and decision (allow, deny, rate_limited...).",
	}, []string{"route", "decision"})
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcpgate_refusals_total",
		Help: "Requests the gateway refused for a limit or a rule, by route and reason (rate_limit, session_limit, stream_limit, json_limit, slow_body, session_not_owned...).",
	}, []string{"route", "reason"})
	m.streamsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcpgate_streams_finished_total",
		Help: "GET (SSE) streams that ended, by route.",
	}, []string{"route"})
	m.reg.MustRegister(m.requests, m.duration, m.upstream, m.verifications, m.decisions, m.refusals, m.streamsFinished)
	m.authMetrics = newAuthMetrics(m.reg)
	return m
}

// Registerer is where other parts of mcpgate register collectors of their own.
func (m *Metrics) Registerer() prometheus.Registerer { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// refusalReasons are the reasons counted in mcpgate_refusals_total; others (policy rule
// sentences) are counted as decisions only, so that the label stays bounded.
var refusalReasons = map[string]bool{
	"json_limit": true, "slow_body": true, "session_limit": true, "stream_limit": true,
	"session_not_owned": true, "session_unknown": true, "session_store_unavailable": true,
	"unreadable_request": true, "upstream_cookie_dropped": true, "upstream_location_dropped": true,
}

// Observe implements gateway.Observer: it counts one finished request.
func (m *Metrics) Observe(_ context.Context, e *gateway.Event) {
	code := strconv.Itoa(e.Status)
	decision := e.Decision
	if decision == "" {
		decision = "none"
	}
	m.requests.WithLabelValues(e.Route, e.HTTPMethod, code, decision).Inc()
	if e.HTTPMethod == http.MethodGet {
		m.streamsFinished.WithLabelValues(e.Route).Inc()
	} else {
		m.duration.WithLabelValues(e.Route, e.HTTPMethod).Observe(e.Latency.Seconds())
	}
	if e.UpstreamLatency > 0 {
		m.upstream.WithLabelValues(e.Route).Observe(e.UpstreamLatency.Seconds())
	}
	if e.Token != "" {
		m.verifications.WithLabelValues(e.Route, e.Token, e.TokenReason).Inc()
	}
	if e.Token == "valid" || e.Principal != nil {
		m.decisions.WithLabelValues(e.Route, decision).Inc()
	}
	for _, r := range e.Reasons {
		if strings.HasPrefix(r, "rate_limit:") {
			r = "rate_limit"
		}
		if refusalReasons[r] || r == "rate_limit" {
			m.refusals.WithLabelValues(e.Route, r).Inc()
		}
	}
}

// StreamsFunc registers mcpgate_streams_open{route}, read from open at each scrape.
func (m *Metrics) StreamsFunc(open func() map[string]int) {
	m.reg.MustRegister(&gaugeMap{
		desc: prometheus.NewDesc("mcpgate_streams_open", "GET (SSE) streams open now, by route (this replica).", []string{"route"}, nil),
		kind: prometheus.GaugeValue, read: open,
	})
}

// KeyFetchesFunc registers mcpgate_jwks_fetches_total{issuer}: key set loads attempted,
// read from fetches at each scrape.
func (m *Metrics) KeyFetchesFunc(fetches func() map[string]int) {
	m.reg.MustRegister(&gaugeMap{
		desc: prometheus.NewDesc("mcpgate_jwks_fetches_total", "Loads of an issuer's signing keys (JWKS) attempted, by issuer: the first, scheduled refreshes and unknown-kid refreshes.", []string{"issuer"}, nil),
		kind: prometheus.CounterValue, read: fetches,
	})
}

// gaugeMap is a collector of one labelled value per map key, read at scrape time.
type gaugeMap struct {
	desc *prometheus.Desc
	kind prometheus.ValueType
	read func() map[string]int
}

func (g *gaugeMap) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *gaugeMap) Collect(ch chan<- prometheus.Metric) {
	for k, v := range g.read() {
		ch <- prometheus.MustNewConstMetric(g.desc, g.kind, float64(v), k)
	}
}

// Interface guard.
var _ gateway.Observer = (*Metrics)(nil)

// The authorization server's and Redis's metrics, registered by New.
type authMetrics struct {
	signIns        *prometheus.CounterVec
	tokenResponses *prometheus.CounterVec
	redisDuration  *prometheus.HistogramVec
	redisErrors    *prometheus.CounterVec
	credentials    *prometheus.CounterVec
	storeDuration  *prometheus.HistogramVec
	storeErrors    *prometheus.CounterVec
}

func newAuthMetrics(reg prometheus.Registerer) authMetrics {
	m := authMetrics{
		signIns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpgate_signins_total",
			Help: "Sign-ins at the authorization server, by connector (local or a connector id) and result (ok, wrong_password, locked, refused, failed, error, incomplete).",
		}, []string{"connector", "result"}),
		tokenResponses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpgate_token_responses_total",
			Help: "Token endpoint responses, by grant type and HTTP status code.",
		}, []string{"grant_type", "code"}),
		redisDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "mcpgate_redis_command_duration_seconds",
			Help:    "Redis command latency, by command.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}, []string{"command"}),
		redisErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mcpgate_redis_errors_total",
			Help: "Redis commands that failed (a missing key is not a failure), by command.",
		}, []string{"command"}),
	}
	m.credentials = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcpgate_upstream_credentials_total",
		Help: "Upstream credentials obtained per request, by route, mode (obo, tokenExchange, connection...), result (ok or the failure's reason) and cache (hit, miss).",
	}, []string{"route", "mode", "result", "cache"})
	m.storeDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "mcpgate_store_query_duration_seconds",
		Help:    "PostgreSQL store statement latency, by statement kind (select, insert, update, delete, with, other).",
		Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
	}, []string{"statement"})
	m.storeErrors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mcpgate_store_errors_total",
		Help: "PostgreSQL store statements that failed, by statement kind.",
	}, []string{"statement"})
	reg.MustRegister(m.signIns, m.tokenResponses, m.redisDuration, m.redisErrors, m.credentials, m.storeDuration, m.storeErrors)
	return m
}

// SignIn implements authserver.Observer.
func (m *Metrics) SignIn(connector, result string) {
	m.signIns.WithLabelValues(connector, result).Inc()
}

// TokenResponse implements authserver.Observer.
func (m *Metrics) TokenResponse(grantType string, status int) {
	m.tokenResponses.WithLabelValues(grantType, strconv.Itoa(status)).Inc()
}

// RedisHook times every Redis command (go-redis hook).
func (m *Metrics) RedisHook() redis.Hook { return redisHook{m} }

type redisHook struct{ m *Metrics }

func (redisHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h redisHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		h.observe(cmd.Name(), time.Since(start), err)
		return err
	}
}

func (h redisHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		h.observe("pipeline", time.Since(start), err)
		return err
	}
}

// redisCommands bounds the command label; others count as "other".
var redisCommands = map[string]bool{
	"get": true, "set": true, "del": true, "getex": true, "evalsha": true, "eval": true, "script": true,
	"publish": true, "subscribe": true, "ping": true, "pipeline": true, "expire": true, "pexpire": true,
	"hello": true, "client": true,
}

func (h redisHook) observe(name string, d time.Duration, err error) {
	if !redisCommands[name] {
		name = "other"
	}
	h.m.redisDuration.WithLabelValues(name).Observe(d.Seconds())
	if err != nil && !errors.Is(err, redis.Nil) {
		h.m.redisErrors.WithLabelValues(name).Inc()
	}
}

// UpstreamCredential implements upstream.CredentialObserver.
func (m *Metrics) UpstreamCredential(route, mode, result string, cached bool) {
	cache := "miss"
	if cached {
		cache = "hit"
	}
	m.credentials.WithLabelValues(route, mode, result, cache).Inc()
}

// StoreQuery is store.Backend.Observe: one PostgreSQL statement.
func (m *Metrics) StoreQuery(statement string, took time.Duration, err error) {
	m.storeDuration.WithLabelValues(statement).Observe(took.Seconds())
	if err != nil {
		m.storeErrors.WithLabelValues(statement).Inc()
	}
}
