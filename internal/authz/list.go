package authz

import (
	"bytes"
	"encoding/json"
	"fmt"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/interpreter"

	"github.com/mcpgate/mcpgate/internal/authz/ruleexpr"
)

// listKind describes one list method: the result array, the member that identifies an
// item and the method the item is used with (the policy is evaluated as if the caller
// used the item).
type listKind struct {
	method     string
	arrayKey   string
	idKey      string
	callMethod string
}

var listKinds = map[string]*listKind{
	"tools/list":               {"tools/list", "tools", "name", "tools/call"},
	"prompts/list":             {"prompts/list", "prompts", "name", "prompts/get"},
	"resources/list":           {"resources/list", "resources", "uri", "resources/read"},
	"resources/templates/list": {"resources/templates/list", "resourceTemplates", "uriTemplate", "resources/read"},
}

// IsListMethod reports whether method's results are filtered.
func IsListMethod(method string) bool { return listKinds[method] != nil }

// ListFilter removes from list results the items a caller may not use, and applies the
// route's tool renames and description overrides. It is made per request by
// Route.ListFilter and used by one goroutine at a time (event by event on an SSE stream).
type ListFilter struct {
	rt    *Route
	kind  *listKind
	byID  map[string]*listKind
	sniff bool
	// listen: a subscriptions/listen stream, whose notifications are filtered too (listen.go)
	listen bool
	vars   Vars
	vis    *visibility
	// explain: record the hidden items and add them to the result (explain.go).
	explain bool
	hidden  []Hidden
}

// ListFilter returns a filter for the responses to a request of the given method, or nil
// when nothing would ever be removed or changed (not a list method, or no policy rule and
// no tools section): the gateway then needs no rewriting at all.
func (rt *Route) ListFilter(v *Vars, method string) *ListFilter {
	k := listKinds[method]
	if k == nil || !rt.filters(k) {
		return nil
	}
	return &ListFilter{rt: rt, kind: k, vars: *v}
}

// BatchListFilter returns a filter for the array response to a batch request: ids maps
// each request id (its raw JSON, e.g. `1` or `"a"`) to its method. Nil when nothing would
// change.
func (rt *Route) BatchListFilter(v *Vars, ids map[string]string) *ListFilter {
	f := &ListFilter{rt: rt, vars: *v, byID: map[string]*listKind{}}
	for id, m := range ids {
		if k := listKinds[m]; k != nil && rt.filters(k) {
			f.byID[id] = k
		}
	}
	if len(f.byID) == 0 {
		return nil
	}
	return f
}

// StreamFilter returns a filter for messages whose request method is not known: the
// standalone GET stream, where a server may replay earlier responses when a client
// resumes with Last-Event-ID (a tools/list response must not escape filtering that way).
// A result is recognised as a list result by its tools, prompts, resources or
// resourceTemplates array. Nil when nothing would change.
func (rt *Route) StreamFilter(v *Vars) *ListFilter {
	needed := false
	for _, k := range listKinds {
		needed = needed || rt.filters(k)
	}
	if !needed {
		return nil
	}
	return &ListFilter{rt: rt, vars: *v, sniff: true}
}

func (rt *Route) filters(k *listKind) bool {
	return !rt.policy.AllowsAll() || (k.method == "tools/list" && rt.tools != nil)
}

// Filter rewrites one JSON-RPC message (a JSON body, or one SSE event's data). Messages
// that are not results of the list request (notifications, server requests, errors) are
// returned as they are, without copying. An error means the message could not be parsed;
// the caller must not forward it (filtering fails closed).
func (f *ListFilter) Filter(msg []byte) ([]byte, error) {
	if f == nil {
		return msg, nil
	}
	if f.listen {
		if out, done := f.filterNotification(msg); done {
			return out, nil
		}
	}
	i := skipWS(msg, 0)
	if i >= len(msg) {
		return msg, nil
	}
	if msg[i] == '[' {
		return f.filterBatch(msg, i)
	}
	k := f.kind
	if f.sniff {
		var err error
		if k, err = sniffKind(msg, i); err != nil || k == nil {
			return msg, err
		}
		if !f.rt.filters(k) {
			return msg, nil
		}
	} else if k == nil {
		// a batch filter given a single message: find its id
		id, err := messageID(msg, i)
		if err != nil {
			return nil, err
		}
		if k = f.byID[id]; k == nil {
			return msg, nil
		}
	}
	out, _, err := f.filterOne(msg, i, k)
	if err == nil && f.explain {
		return f.addExplanation(out)
	}
	return out, err
}

func (f *ListFilter) filterBatch(msg []byte, i int) ([]byte, error) {
	var out []byte
	changed := false
	first := true
	_, err := eachElement(msg, i, func(s, e int) error {
		el := msg[s:e]
		k := f.kind
		if f.sniff {
			var err error
			if k, err = sniffKind(el, 0); err != nil {
				return err
			}
			if k != nil && !f.rt.filters(k) {
				k = nil
			}
		} else if f.byID != nil {
			id, err := messageID(el, 0)
			if err != nil {
				return err
			}
			k = f.byID[id]
		}
		if k != nil {
			nel, ch, err := f.filterOne(el, 0, k)
			if err != nil {
				return err
			}
			if ch {
				changed = true
				el = nel
			}
		}
		if first {
			out = append(out, '[')
			first = false
		} else {
			out = append(out, ',')
		}
		out = append(out, el...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if !changed {
		return msg, nil
	}
	return append(out, ']'), nil
}

// sniffKind finds which list a result message answers, from the arrays in its result
// (nil: not a list result). A result with arrays of several kinds is an error.
func sniffKind(msg []byte, i int) (*listKind, error) {
	var kind *listKind
	isRequest, n := false, 0
	_, err := eachMemberScan(msg, i, func(m member) (int, error) {
		switch {
		case m.keyFold("method"):
			isRequest = true
		case m.keyFold("result") && msg[m.start] == '{':
			return eachMemberScan(msg, m.start, func(rm member) (int, error) {
				for _, k := range listKinds {
					if rm.keyFold(k.arrayKey) && kind != k {
						kind = k
						n++
					}
				}
				return skipValue(msg, rm.start)
			})
		}
		return skipValue(msg, m.start)
	})
	switch {
	case err != nil:
		return nil, err
	case isRequest:
		return nil, nil
	case n > 1:
		return nil, fmt.Errorf("a result holds several kinds of lists")
	}
	return kind, nil
}

func messageID(msg []byte, i int) (string, error) {
	id := ""
	_, err := eachMember(msg, i, func(m member) bool {
		if m.keyFold("id") {
			id = string(msg[m.start:m.end])
		}
		return true
	})
	return id, err
}

// filterOne filters the message object at msg[i]; changed reports whether out differs.
// The message is read once: the result's item array is filtered while it is scanned.
func (f *ListFilter) filterOne(msg []byte, i int, k *listKind) (out []byte, changed bool, err error) {
	nResult, nArr, isRequest := 0, 0, false
	var buf []byte // the rewritten message, once something changed
	var arrEnd int // index after the item array's ']'
	end, err := eachMemberScan(msg, i, func(m member) (int, error) {
		switch {
		case m.keyFold("method"):
			isRequest = true
		case m.keyFold("result") && msg[m.start] == '{':
			nResult++
			return eachMemberScan(msg, m.start, func(rm member) (int, error) {
				if !rm.keyFold(k.arrayKey) || msg[rm.start] != '[' {
					return skipValue(msg, rm.start)
				}
				nArr++
				e, b, err := f.items(msg, rm.start, k)
				buf, arrEnd = b, e
				return e, err
			})
		case m.keyFold("result"):
			nResult++
		}
		return skipValue(msg, m.start)
	})
	switch {
	case err != nil:
		return nil, false, err
	case isRequest:
		return msg, false, nil
	case nResult > 1:
		return nil, false, fmt.Errorf("%s response has %d result members", k.method, nResult)
	case nArr > 1:
		return nil, false, fmt.Errorf("%s result has %d %q members", k.method, nArr, k.arrayKey)
	case buf == nil:
		return msg, false, nil
	}
	buf = append(buf, msg[arrEnd-1:end]...) // "]" and the rest of the message
	buf = append(buf, msg[end:]...)
	return buf, true, nil
}

// items filters the item array at msg[a] == '['. buf is nil when every item is kept
// unchanged; otherwise it holds msg up to the array and the kept items, without the
// closing bracket.
func (f *ListFilter) items(msg []byte, a int, k *listKind) (end int, buf []byte, err error) {
	if f.vis == nil {
		f.vis = f.rt.policy.visibility(&f.vars)
	}
	kept := 0
	last := a + 1
	end, err = eachElementScan(msg, a, func(s int) (int, error) {
		e, item, keep, err := f.item(msg, s, k)
		if err != nil {
			return 0, err
		}
		if keep && item == nil && buf == nil {
			kept++
			return e, nil // unchanged so far: nothing to copy yet
		}
		if buf == nil {
			// first change: copy the message up to here (the items kept so far are
			// contiguous)
			buf = make([]byte, 0, len(msg))
			buf = append(buf, msg[:last]...)
			if kept > 0 {
				buf = append(buf, bytes.TrimRight(msg[last:s], " \t\r\n,")...)
			}
		}
		if keep {
			if kept > 0 {
				buf = append(buf, ',')
			}
			if item != nil {
				buf = append(buf, item...)
			} else {
				buf = append(buf, msg[s:e]...)
			}
			kept++
		}
		return e, nil
	})
	return end, buf, err
}

// item decides the list item at msg[s], which ends at end. keep false drops it; a non-nil
// item replaces it.
func (f *ListFilter) item(msg []byte, s int, k *listKind) (end int, item []byte, keep bool, err error) {
	if msg[s] != '{' {
		end, err = skipValue(msg, s)
		return end, nil, false, err // not an object: drop
	}
	var id, desc member
	nID, nDesc := 0, 0
	end, err = eachMember(msg, s, func(m member) bool {
		switch {
		case m.keyFold(k.idKey):
			id = m
			nID++
		case k.method == "tools/list" && m.keyFold("description"):
			desc = m
			nDesc++
		}
		return true
	})
	if err != nil {
		return 0, nil, false, err
	}
	if nID != 1 {
		return end, nil, false, nil // no name, or ambiguous names: drop (fail closed)
	}
	name, ok := stringValue(msg, id)
	if !ok {
		return end, nil, false, nil
	}
	v := &f.vars
	switch k.callMethod {
	case "tools/call":
		if !f.rt.tools.Exposed(name) {
			f.hide(name, nil, "tool "+name+" is not exposed on this route (its tools section)")
			return end, nil, false, nil
		}
		v.MCP = ruleexpr.MCP{Method: k.callMethod, Tool: name}
	case "prompts/get":
		v.MCP = ruleexpr.MCP{Method: k.callMethod, Prompt: name}
	default:
		v.MCP = ruleexpr.MCP{Method: k.callMethod, URI: name}
	}
	if !f.vis.visible() {
		if f.explain {
			rules, reason := f.vis.why()
			shown := name
			if k.callMethod == "tools/call" {
				if n, _ := f.rt.tools.Presentation(name); n != "" {
					shown = n
				}
			}
			f.hide(shown, rules, reason)
		}
		return end, nil, false, nil
	}
	if k.callMethod != "tools/call" {
		return end, nil, true, nil
	}
	newName, newDesc := f.rt.tools.Presentation(name)
	if newName == "" && newDesc == "" || nDesc > 1 {
		return end, nil, true, nil
	}
	id.start, id.end, desc.start, desc.end = id.start-s, id.end-s, desc.start-s, desc.end-s
	return end, overrideTool(msg[s:end], id, desc, nDesc == 1, newName, newDesc), true, nil
}

// overrideTool splices a new name and/or description into a tool object.
func overrideTool(el []byte, name, desc member, hasDesc bool, newName, newDesc string) []byte {
	type edit struct {
		start, end int
		repl       []byte
	}
	var edits []edit
	if newName != "" {
		q, _ := json.Marshal(newName)
		edits = append(edits, edit{name.start, name.end, q})
	}
	if newDesc != "" {
		q, _ := json.Marshal(newDesc)
		if hasDesc {
			edits = append(edits, edit{desc.start, desc.end, q})
		} else {
			closeAt := bytes.LastIndexByte(el, '}')
			edits = append(edits, edit{closeAt, closeAt, append([]byte(`,"description":`), q...)})
		}
	}
	if len(edits) == 2 && edits[1].start < edits[0].start {
		edits[0], edits[1] = edits[1], edits[0]
	}
	out := make([]byte, 0, len(el)+64)
	last := 0
	for _, e := range edits {
		out = append(out, el[last:e.start]...)
		out = append(out, e.repl...)
		last = e.end
	}
	return append(out, el[last:]...)
}

// visibility decides list items for one caller: rules that do not read mcp.* are
// evaluated once per list, the others once per item with mcp.arguments unknown.
type visibility struct {
	p        *Policy
	v        *Vars
	partial  interpreter.Activation
	hideAll  bool
	allowAll bool
	dynDeny  []*rule
	dynAllow []*rule
}

func (p *Policy) visibility(v *Vars) *visibility {
	vis := &visibility{p: p, v: v}
	if len(p.rules) == 0 {
		vis.allowAll = p.defaultAllow
		return vis
	}
	vis.allowAll = p.defaultAllow
	for _, r := range p.deny {
		if r.readsMCP {
			vis.dynDeny = append(vis.dynDeny, r)
			continue
		}
		if o, _ := r.eval(v); o == match || o == failed {
			vis.hideAll = true
		}
	}
	for _, r := range p.allow {
		if r.readsMCP {
			vis.dynAllow = append(vis.dynAllow, r)
			continue
		}
		if o, _ := r.eval(v); o == match {
			vis.allowAll = true
		}
	}
	return vis
}

var argumentsUnknown = cel.AttributePattern("mcp").QualString("arguments")

func (vis *visibility) eval(r *rule) outcome {
	if r.guarded(vis.v) {
		return noMatch
	}
	if !r.readsArgs {
		o, _ := r.eval(vis.v)
		return o
	}
	if vis.partial == nil {
		pa, err := cel.PartialVars(vis.v, argumentsUnknown)
		if err != nil {
			return failed
		}
		vis.partial = pa
	}
	o, _ := toOutcome(evalProg(r.listProg, vis.partial))
	return o
}

// visible reports whether the item in vis.v.MCP may be listed: no deny rule certainly
// matches, and an allow rule matches or may match depending on the arguments (or the
// default allows). Require rules never hide an item: calling it leads to a step-up.
func (vis *visibility) visible() bool {
	if vis.hideAll {
		return false
	}
	for _, r := range vis.dynDeny {
		if o := vis.eval(r); o == match || o == failed {
			return false
		}
	}
	if vis.allowAll {
		return true
	}
	for _, r := range vis.dynAllow {
		if o := vis.eval(r); o == match || o == unknown {
			return true
		}
	}
	return false
}
