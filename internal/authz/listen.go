package authz

import (
	"encoding/json"

	"github.com/mcpgate/mcpgate/internal/authz/ruleexpr"
)

// ListenFilter returns a filter for the stream of a 2026-07-28 subscriptions/listen
// request, which replaces the standalone GET stream: list results are filtered as on that
// stream (StreamFilter), and a notifications/resources/updated about a resource the
// caller may not read is dropped: the resources a client subscribes to travel in the
// listen request's params, which rules do not see, so the notifications are filtered as
// resources/list filters the resource itself. List-changed notifications name no item
// and pass. Nil when nothing would change.
func (rt *Route) ListenFilter(v *Vars) *ListFilter {
	f := rt.StreamFilter(v)
	if f == nil && rt.policy.AllowsAll() {
		return nil
	}
	if f == nil {
		f = &ListFilter{rt: rt, vars: *v, sniff: true}
	}
	f.listen = true
	return f
}

// filterNotification decides a message on a listen stream that is a notification. done
// is false for anything else, which Filter then handles as a list result.
func (f *ListFilter) filterNotification(msg []byte) (out []byte, done bool) {
	var top map[string]json.RawMessage
	if json.Unmarshal(msg, &top) != nil {
		return nil, false // not an object: Filter reports the error
	}
	var method *string
	if json.Unmarshal(top["method"], &method) != nil || method == nil {
		return nil, false // a response: a list result, or nothing to filter
	}
	if *method != "notifications/resources/updated" || f.rt.policy.AllowsAll() {
		return msg, true
	}
	var p map[string]json.RawMessage
	var uri string
	if json.Unmarshal(top["params"], &p) != nil || json.Unmarshal(p["uri"], &uri) != nil || uri == "" {
		return nil, true // an update about no readable uri: drop (fail closed)
	}
	if f.vis == nil {
		f.vis = f.rt.policy.visibility(&f.vars)
	}
	f.vars.MCP = ruleexpr.MCP{Method: "resources/read", URI: uri}
	if !f.vis.visible() {
		return nil, true
	}
	return msg, true
}
