package audit

import (
	"context"
	"net/http"
	"strings"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/gateway"
)

// ObserverOptions are what a route's audit observer records besides the gateway's event.
type ObserverOptions struct {
	// Arguments records the arguments of each call, redacted (nil: arguments are recorded
	// only as a hash).
	Arguments *Redactor
	// UpstreamAuth names the route's upstream credential mode (default "none").
	UpstreamAuth string
	// UpstreamTool maps a tool name the client used to the upstream tool's name (renamed
	// tools), for the messages of a batch; ok false leaves the name as the client sent
	// it. Nil: names are recorded unchanged.
	UpstreamTool func(exposed string) (upstream string, ok bool)
	// Journal, when set, records each tools/call before it is sent upstream, so that a call
	// the process dies during is recorded as interrupted at the next start (journal.go).
	Journal *Journal
}

// NewObserver returns a gateway.Observer recording one event per request into a, and one
// per message of a JSON-RPC batch.
func NewObserver(a *Auditor, o ObserverOptions) gateway.Observer {
	if o.UpstreamAuth == "" {
		o.UpstreamAuth = "none"
	}
	return &observer{a: a, red: o.Arguments, upstreamTool: o.UpstreamTool, mode: o.UpstreamAuth, journal: o.Journal}
}

// observer records audit events.
type observer struct {
	a            *Auditor
	red          *Redactor
	upstreamTool func(string) (string, bool)
	mode         string
	journal      *Journal
}

// input is what the gateway's event says, as audit records it.
func (o *observer) input(e *gateway.Event) input {
	in := input{
		Time: e.Start, Route: e.Route, Method: e.MCPMethod, Tool: e.Tool, URI: e.URI, Prompt: e.Prompt,
		Arguments: e.Arguments, Decision: e.Decision, Rules: e.Rules, Reason: strings.Join(e.Reasons, "; "),
		Status: e.Status, UpstreamStatus: e.UpstreamStatus, Latency: e.Latency, UpstreamAuth: o.mode, Upstream: e.Upstream,
		RequestID: e.RequestID, SessionID: e.SessionID, Error: e.Error, Record: o.red,
		ProtocolVersion: e.ProtocolVersion,
	}
	if e.UserAgent != "" {
		in.Header = http.Header{"User-Agent": {e.UserAgent}}
	}
	if p := e.Principal; p != nil {
		in.Subject, in.Email, in.ClientID = p.Subject, p.Email, p.ClientID
		if idp, ok := p.Claims[authn.ClaimIDJAGIdP].(string); ok {
			in.TokenOrigin = "id-jag:" + idp
		}
	}
	if in.Method == "" {
		in.Method = e.HTTPMethod
	}
	return in
}

// Starting journals a single tools/call before it goes upstream (gateway.Starter).
func (o *observer) Starting(_ context.Context, e *gateway.Event) {
	if o.journal == nil || len(e.Messages) != 1 || e.MCPMethod != "tools/call" {
		return
	}
	in := o.input(e)
	in.Decision, in.Status, in.UpstreamStatus = "started", 0, 0
	id, err := o.journal.Begin(newEvent(in))
	if err != nil {
		o.a.log.Error("audit journal failed: this call is not on record until it ends", "route", e.Route, "err", err)
		return
	}
	e.Mark = id
}

func (o *observer) Observe(_ context.Context, e *gateway.Event) {
	in := o.input(e)
	if len(e.Messages) <= 1 {
		ev := newEvent(in)
		ev.JournalID = e.Mark
		o.a.Record(ev)
		return
	}
	// A batch: one event per message, so that no call hides behind another.
	for i := range e.Messages {
		m := &e.Messages[i]
		mi := in
		mi.Method, mi.Tool, mi.URI, mi.Prompt, mi.RequestID, mi.Arguments = m.Method, m.Tool, m.URI, m.Prompt, m.ID, m.Arguments
		if mi.Method == "" {
			mi.Method = "response"
		}
		if o.upstreamTool != nil && m.Tool != "" {
			if up, ok := o.upstreamTool(m.Tool); ok {
				mi.Tool = up
			}
		}
		o.a.Record(newEvent(mi))
	}
}

// Interface guards
var (
	_ gateway.Observer = (*observer)(nil)
	_ gateway.Starter  = (*observer)(nil)
)
