package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/mcp"
)

// Call is what an Interceptor sees of one request on a route, after authentication.
type Call struct {
	Route string
	// HTTPMethod is POST, GET or DELETE.
	HTTPMethod string
	// Principal is the verified caller, nil when anonymous (optional/permissive routes).
	Principal *authn.Principal
	// Messages are the JSON-RPC messages of a POST body (one, or several for a batch),
	// each with its raw bytes (Raw). Empty for GET and DELETE, and when the body is not
	// JSON-RPC (ParseErr says why).
	Messages []mcp.Request
	Batch    bool
	ParseErr error
	// SessionID is the Mcp-Session-Id header.
	SessionID string
	// Header is the client's request header (read-only; the Authorization header is
	// already removed).
	Header http.Header
	// RemoteIP is the client's address: the TCP peer, or, when the peer is one of the
	// trusted proxies, the last address in X-Forwarded-For that is not a trusted proxy.
	RemoteIP netip.Addr
	// Time is when the request arrived.
	Time time.Time

	version string // the request's protocol version (protocol.go)
	// inputAction is the user's answer ("accept", "decline", "cancel") to the input the
	// gateway asked for, on a retry carrying the gateway's requestState (requeststate.go).
	inputAction string
}

// ProtocolVersion is the MCP protocol version of the request: the MCP-Protocol-Version
// header; without it, the version in a 2026-07-28 request's _meta or the one an
// initialize asks for ("" when unknown). A 2026-07-28 request reaches the interceptor
// only once its headers matched its body (protocol.go).
func (c *Call) ProtocolVersion() string {
	if c.version != "" {
		return c.version
	}
	if v := c.Header.Get("Mcp-Protocol-Version"); v != "" {
		return v
	}
	if len(c.Messages) == 1 && c.Messages[0].Method == "initialize" {
		var p struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		if json.Unmarshal(c.Messages[0].Params, &p) == nil {
			return p.ProtocolVersion
		}
	}
	return ""
}

// Interceptor decides, per request, whether a call may reach the upstream, and may
// rewrite what comes back. It is the seam for policy (internal/authz) and tool filtering.
type Interceptor interface {
	Intercept(ctx context.Context, c *Call) Verdict
}

// InterceptorFunc adapts a function to Interceptor.
type InterceptorFunc func(ctx context.Context, c *Call) Verdict

// Intercept calls f.
func (f InterceptorFunc) Intercept(ctx context.Context, c *Call) Verdict { return f(ctx, c) }

// Verdict is an Interceptor's answer. The zero Verdict allows the call unchanged.
type Verdict struct {
	// Deny, when non-nil, refuses the call: the upstream is not contacted.
	Deny *Denial
	// Rewrite, when non-nil, is applied to every JSON-RPC message the upstream returns
	// for this call: the whole body of an application/json response (an array for a
	// batch), or the data of each SSE event, event by event as they arrive.
	Rewrite Rewriter
	// Decision is a short label for logs and audit ("allow", "deny"); default "allow" or
	// "deny".
	Decision string
	// Reasons explain the decision (stable identifiers or sentences without argument
	// values), for the access log and audit.
	Reasons []string
	// Rules are the names of the policy rules that decided, for audit.
	Rules []string
	// Tool, when set, is the upstream name of the tool called (a renamed tool's real
	// name): the observer's Event records it instead of the name the client used.
	Tool string
	// Body, when non-nil, replaces the request body sent upstream (e.g. a renamed tool's
	// call rewritten to the upstream name); Content-Length follows it.
	Body []byte
}

// Rewriter rewrites one JSON-RPC message from the upstream. Returning msg unchanged is
// cheap; returning nil drops an SSE event (a JSON body is then sent as is); an error fails
// a JSON response with 502 and ends an SSE stream.
type Rewriter func(ctx context.Context, msg []byte) ([]byte, error)

// Denial is a refusal.
type Denial struct {
	// Code and Message form the JSON-RPC error sent back (default -32001, "forbidden").
	Code    int
	Message string
	// Data is optional JSON-RPC error data.
	Data any
	// HTTPStatus of the refusal. Default: 200 when the request has a JSON-RPC id to answer
	// (clients show the error to the user/model), 403 otherwise.
	HTTPStatus int
	// InsufficientScope, when non-empty, turns the refusal into an HTTP 403 with a
	// WWW-Authenticate insufficient_scope challenge asking for these scopes (plus those
	// already granted), so that clients step up their authorization.
	InsufficientScope []string
	// RetryAfter, when positive, is a rate-limit refusal: HTTP 429 (unless HTTPStatus says
	// otherwise) with Retry-After in whole seconds, rounded up.
	RetryAfter time.Duration
	// Responses, when non-nil, refuse a batch: the body is a JSON array of these JSON-RPC
	// responses (one per message that has an id), HTTP 200 unless HTTPStatus says
	// otherwise. Code, Message and Data are then only recorded.
	Responses []json.RawMessage
}

// CredentialError may be implemented by an error that UpstreamCredentials returns (it is
// found with errors.As, so it may be wrapped) to choose how the gateway answers the
// client, instead of the default 502 upstream_credential. The adapter lives with the
// credential provider (internal/app), so that the gateway stays independent of it.
// CredentialDeferrer may be implemented by a CredentialError whose failure matters only to
// calls that act on the upstream for the user: the user has not connected their account
// yet, or consent is not granted yet. Calls that need no user credential
// (NeedsNoCredential) then reach the upstream without one, so that a client can discover
// and list before the user connects or consents; only a call that needs the credential is
// answered with the error (and so is a deferred call the upstream refuses with 401/403).
type CredentialDeferrer interface {
	DeferCredential() bool
}

// noCredentialMethods are the methods sent on without the user's credential while it is
// deferred (CredentialDeferrer): they describe the server and its
// capabilities, the same for every user, and act on nothing of the user's. Everything else
// (tools/call, resources/read, prompts/get, completion, subscriptions, and any method the
// gateway does not know) gets the credential's error.
var noCredentialMethods = map[string]bool{
	"server/discover": true, "initialize": true, "ping": true,
	"tools/list": true, "prompts/list": true, "resources/list": true, "resources/templates/list": true,
}

// NeedsNoCredential reports whether every message of c is a POSTed request or notification
// that needs no user credential: a method of noCredentialMethods or a notification
// (notifications/…). GET streams, DELETE and client responses need the credential.
func (c *Call) NeedsNoCredential() bool {
	if c == nil || c.HTTPMethod != "POST" || len(c.Messages) == 0 {
		return false
	}
	for _, m := range c.Messages {
		if !noCredentialMethods[m.Method] && !strings.HasPrefix(m.Method, "notifications/") {
			return false
		}
	}
	return true
}

type CredentialError interface {
	error
	// GatewayResponse renders the failure for this call. It must not put secrets in the
	// response: it goes to the client.
	GatewayResponse(c *Call) Response
}

// Response is a rendered answer to a call that did not reach the upstream.
type Response struct {
	// Status is the HTTP status. Default 200 when the call has a JSON-RPC id, else 502.
	Status int
	// Header is added to the response (e.g. WWW-Authenticate).
	Header http.Header
	// Error is sent as a JSON-RPC error to the call's id, unless Result is set.
	Error *mcp.ErrorObject
	// Result, when non-nil, is sent as the JSON-RPC result to the call's id instead (e.g. a
	// tool error result).
	Result any
	// Input, when set, is what the user must do before the call can succeed. A 2026-07-28
	// tools/call, prompts/get or resources/read from a client that declares URL
	// elicitation is then answered with an input-required result carrying it and a
	// requestState of the gateway's (requeststate.go) instead of Error or Result, which
	// remain the answer for every other call and client.
	Input *URLInput
	// Reason is a stable code for the access log and audit (e.g. connection_missing).
	Reason string
	// Message is a sentence for the log and audit (no secrets).
	Message string
}

// Observer is told once about every finished request on a route (audit, metrics).
// Observe runs on the request goroutine after the response ended: keep it fast.
type Observer interface {
	Observe(ctx context.Context, e *Event)
}

// Starter is implemented by an Observer that must know of a request before it is sent
// upstream: audit's journal, so that a call a crash interrupts is still on record. It may
// keep its own mark in Event.Mark for Observe.
type Starter interface {
	Starting(ctx context.Context, e *Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(ctx context.Context, e *Event)

// Observe calls f.
func (f ObserverFunc) Observe(ctx context.Context, e *Event) { f(ctx, e) }

// Event describes one finished request.
type Event struct {
	Route      string
	Start      time.Time
	Latency    time.Duration
	HTTPMethod string
	Principal  *authn.Principal
	// MCPMethod, Tool, URI, Prompt and RequestID describe the (first) JSON-RPC message.
	// Tool is the upstream tool name when the Interceptor's Verdict gave one.
	MCPMethod, Tool, URI, Prompt string
	RequestID                    json.RawMessage
	// Arguments of a tools/call (raw JSON; redact before storing).
	Arguments json.RawMessage
	// Messages are all parsed messages (batches).
	Messages  []mcp.Request
	SessionID string

	// ProtocolVersion is the request's MCP protocol version (see Call.ProtocolVersion).
	ProtocolVersion string

	// UserAgent is the client's User-Agent header; RemoteIP its address (see Call).
	UserAgent string
	RemoteIP  netip.Addr
	// Status is the HTTP status sent to the client; UpstreamStatus the upstream's (0 when
	// the upstream was not reached).
	Status, UpstreamStatus int
	// Decision is "allow", "deny", "unauthenticated", "insufficient_scope",
	// "upstream_error"... Reasons add detail.
	Decision string
	Reasons  []string
	// Rules are the policy rules that decided (from the Interceptor's Verdict).
	Rules []string
	// Error says what went wrong, for failed requests.
	Error string
	// Token is what became of the caller's token: "" (not looked at), "missing", "valid",
	// "rejected" (TokenReason says why, an authn reason) or "error" (it could not be
	// checked).
	Token, TokenReason string
	// UpstreamLatency is the time from sending the request upstream to its response
	// headers (0 when the upstream was not asked).
	UpstreamLatency time.Duration
	// Upstream names the server that answered behind an in-process handler
	// (RouteOptions.Handler, Caller.SetUpstream): an aggregating route's upstream.
	Upstream string

	// Mark belongs to the route's Observer (Starter): set in Starting, read in Observe.
	Mark uint64

	keys    sessionKeys // the caller's session owner and user keys, computed once
	release func()      // gives back the stream slot (sessions.go), when one was taken
}
