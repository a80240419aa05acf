package gateway

import (
	"context"
	"encoding/json"
	"net/http"
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
	// Messages are the JSON-RPC messages of a POST body (one, or several for a batch).
	// Empty for GET and DELETE, and when the body is not JSON-RPC (ParseErr says why).
	Messages []mcp.Request
	Batch    bool
	ParseErr error
	// SessionID is the Mcp-Session-Id header.
	SessionID string
	// Header is the client's request header (read-only; the Authorization header is
	// already removed).
	Header http.Header
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
	// Reasons explain the decision (stable identifiers, e.g. "tool-not-allowed").
	Reasons []string
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
}

// Observer is told once about every finished request on a route (audit, metrics).
// Observe runs on the request goroutine after the response ended: keep it fast.
type Observer interface {
	Observe(ctx context.Context, e *Event)
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
	MCPMethod, Tool, URI, Prompt string
	RequestID                    json.RawMessage
	// Arguments of a tools/call (raw JSON; redact before storing).
	Arguments json.RawMessage
	// Messages are all parsed messages (batches).
	Messages  []mcp.Request
	SessionID string
	// Status is the HTTP status sent to the client; UpstreamStatus the upstream's (0 when
	// the upstream was not reached).
	Status, UpstreamStatus int
	// Decision is "allow", "deny", "unauthenticated", "insufficient_scope",
	// "upstream_error"... Reasons add detail.
	Decision string
	Reasons  []string
	// Error says what went wrong, for failed requests.
	Error string
}
