package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"time"
)

// Event is one audited MCP request.
type Event struct {
	Time  time.Time `json:"time"`
	Route string    `json:"route"`
	// User is the token subject; Email the user's email when known.
	User     string `json:"user,omitempty"`
	Email    string `json:"email,omitempty"`
	ClientID string `json:"clientId,omitempty"`
	// TokenOrigin says how the access token was obtained when it was not an ordinary
	// sign-in: "id-jag:<enterprise IdP name>" for enterprise-managed authorization.
	TokenOrigin string `json:"tokenOrigin,omitempty"`
	// Method is the JSON-RPC method (tools/call, ...), or the HTTP method for requests
	// without a JSON-RPC message (GET stream, DELETE session).
	Method   string `json:"method"`
	Tool     string `json:"tool,omitempty"`
	Resource string `json:"resource,omitempty"`
	Prompt   string `json:"prompt,omitempty"`
	// ArgumentsHash is the hex SHA-256 of the arguments' canonical JSON.
	ArgumentsHash string `json:"argumentsHash,omitempty"`
	// Arguments are recorded only when the route opts in, redacted.
	Arguments json.RawMessage `json:"arguments,omitempty"`
	// Decision is allow, deny, insufficient_scope, rate_limited, unauthenticated, ...
	Decision string   `json:"decision"`
	Rules    []string `json:"rules,omitempty"`
	Reason   string   `json:"reason,omitempty"`
	// Status is the HTTP status sent to the client; UpstreamStatus the upstream's (0: not
	// contacted).
	Status         int `json:"status,omitempty"`
	UpstreamStatus int `json:"upstreamStatus,omitempty"`
	// LatencyMS is the time from request to the end of the response, in milliseconds.
	LatencyMS float64 `json:"latencyMs"`
	// UpstreamAuth is the upstream credential mode (obo, tokenExchange, gatewayJWT, none...).
	UpstreamAuth string `json:"upstreamAuth,omitempty"`
	// Upstream is which of an aggregating route's upstreams answered.
	Upstream string `json:"upstream,omitempty"`
	// RequestID is the JSON-RPC id.
	RequestID string `json:"requestId,omitempty"`
	// SessionHash is a SHA-256 prefix of the Mcp-Session-Id (the id itself is a bearer
	// capability and is never recorded).
	SessionHash string `json:"sessionHash,omitempty"`
	UserAgent   string `json:"userAgent,omitempty"`
	Error       string `json:"error,omitempty"`
	// ProtocolVersion is the request's MCP protocol version (2025-11-25, 2026-07-28, ...).
	ProtocolVersion string `json:"protocolVersion,omitempty"`

	// JournalID ties the event to its start in the Journal (0: not journalled).
	JournalID uint64 `json:"-"`
}

// input is what the gateway knows about a finished request. newEvent turns it into an
// Event, keeping only what may be recorded.
type input struct {
	Time                     time.Time
	Route                    string
	Subject, Email, ClientID string
	TokenOrigin              string
	Method                   string
	Tool, URI, Prompt        string
	Arguments                json.RawMessage
	Decision                 string
	Rules                    []string
	Reason                   string
	Status, UpstreamStatus   int
	Latency                  time.Duration
	UpstreamAuth             string
	Upstream                 string
	RequestID                json.RawMessage
	SessionID                string
	// Header is the client's request header. Only User-Agent is recorded; Authorization,
	// cookies and everything else are not.
	Header http.Header
	Error  string
	// Record, when non-nil, records the arguments (redacted).
	Record *Redactor
	// ProtocolVersion is the request's MCP protocol version.
	ProtocolVersion string
}

// newEvent builds the event for in.
func newEvent(in input) Event {
	e := Event{
		Time: in.Time.UTC(), Route: in.Route, User: in.Subject, Email: in.Email, ClientID: in.ClientID, TokenOrigin: in.TokenOrigin,
		Method: in.Method, Tool: in.Tool, Resource: in.URI, Prompt: in.Prompt,
		Decision: in.Decision, Rules: in.Rules, Reason: in.Reason,
		Status: in.Status, UpstreamStatus: in.UpstreamStatus,
		LatencyMS:    float64(in.Latency.Microseconds()) / 1000,
		UpstreamAuth: in.UpstreamAuth, Upstream: in.Upstream, Error: scrub(in.Error), ProtocolVersion: in.ProtocolVersion,
	}
	if e.Time.IsZero() {
		e.Time = time.Now().UTC()
	}
	if len(in.RequestID) > 0 {
		var s string
		if json.Unmarshal(in.RequestID, &s) == nil {
			e.RequestID = s
		} else {
			e.RequestID = string(bytes.TrimSpace(in.RequestID))
		}
	}
	if in.SessionID != "" {
		e.SessionHash = hashString(in.SessionID)[:32]
	}
	if in.Header != nil {
		e.UserAgent = in.Header.Get("User-Agent")
	}
	if len(in.Arguments) > 0 && !bytes.Equal(bytes.TrimSpace(in.Arguments), []byte("null")) {
		e.ArgumentsHash = hashArguments(in.Arguments)
		if in.Record != nil {
			e.Arguments = in.Record.Redact(in.Arguments)
		}
	}
	return e
}

// hashString returns the hex SHA-256 of s.
func hashString(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// hashArguments returns the hex SHA-256 of the canonical JSON of raw: object keys sorted,
// insignificant space removed, numbers kept as written, no HTML escaping. The same
// arguments always hash the same, however the client formatted them. Invalid JSON is
// hashed as is.
func hashArguments(raw json.RawMessage) string {
	c, err := Canonical(raw)
	if err != nil {
		c = raw
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:])
}

// Canonical re-encodes JSON with sorted keys and no insignificant space.
func Canonical(raw []byte) ([]byte, error) {
	v, err := decode(raw)
	if err != nil {
		return nil, err
	}
	return encode(v)
}

func decode(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	return v, nil
}

func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
