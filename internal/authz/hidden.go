package authz

import (
	"encoding/json"
	"fmt"
	"strings"
)

// ExplainMetaKey is the _meta key of a list request that asks which items the policy hides
// from the caller; HiddenMetaKey is the result _meta key of the answer (a []Hidden).
const (
	ExplainMetaKey = "io.mcpgate/explain"
	HiddenMetaKey  = "io.mcpgate/hidden"
)

// Hidden is one list item the route hid from the caller, and why.
type Hidden struct {
	// Name is the tool or prompt name (as clients would call it), or the resource URI or
	// URI template.
	Name string `json:"name"`
	// Rules are the policy rules that hid it (none when no allow rule matched, or when the
	// route's tools section does not expose it).
	Rules []string `json:"rules,omitempty"`
	// Reason explains it in a sentence.
	Reason string `json:"reason"`
}

// maxExplained bounds the hidden items listed in one answer.
const maxExplained = 1000

// WantsExplanation reports whether a list request's params ask which items are hidden
// ({"_meta": {"io.mcpgate/explain": true}}).
func WantsExplanation(params json.RawMessage) bool {
	if len(params) == 0 {
		return false
	}
	var p struct {
		Meta map[string]json.RawMessage `json:"_meta"`
	}
	if json.Unmarshal(params, &p) != nil {
		return false
	}
	return string(p.Meta[ExplainMetaKey]) == "true"
}

// Explains reports whether the route answers explanation requests (policy.explainHidden).
func (rt *Route) Explains() bool { return rt.explain }

// ExplainListFilter returns a filter for a list request that asked for an explanation:
// like ListFilter, and the filtered result's _meta lists the hidden items with the rules
// and reasons (an empty list when nothing is hidden). Nil when the route does not explain
// or method is not a list method.
func (rt *Route) ExplainListFilter(v *Vars, method string) *ListFilter {
	k := listKinds[method]
	if k == nil || !rt.explain {
		return nil
	}
	return &ListFilter{rt: rt, kind: k, vars: *v, explain: true, hidden: []Hidden{}}
}

// hide records why the item name is hidden, when the filter explains.
func (f *ListFilter) hide(name string, rules []string, reason string) {
	if f.explain && len(f.hidden) < maxExplained {
		f.hidden = append(f.hidden, Hidden{Name: name, Rules: rules, Reason: reason})
	}
}

// addExplanation puts the hidden items in the result's _meta of the list response msg.
func (f *ListFilter) addExplanation(msg []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(msg, &m); err != nil {
		return nil, err
	}
	raw, ok := m["result"]
	if !ok {
		return msg, nil // an error response: nothing to explain
	}
	var res map[string]json.RawMessage
	if err := json.Unmarshal(raw, &res); err != nil {
		return nil, fmt.Errorf("%s result: %w", f.kind.method, err)
	}
	meta := map[string]json.RawMessage{}
	if b, ok := res["_meta"]; ok {
		if err := json.Unmarshal(b, &meta); err != nil || meta == nil {
			return nil, fmt.Errorf("%s result: _meta is not an object", f.kind.method)
		}
	}
	meta[HiddenMetaKey], _ = json.Marshal(f.hidden)
	res["_meta"], _ = json.Marshal(meta)
	m["result"], _ = json.Marshal(res)
	f.hidden = f.hidden[:0]
	return json.Marshal(m)
}

// why explains an item visible() refused: the deny rules that hide it, or that no allow
// rule matches it.
func (vis *visibility) why() ([]string, string) {
	var rules []string
	for _, r := range vis.p.deny {
		var o outcome
		if r.readsMCP {
			o = vis.eval(r)
		} else {
			o, _ = r.eval(vis.v)
		}
		if o == match || o == failed {
			rules = append(rules, r.name)
		}
	}
	if len(rules) > 0 {
		reason := "denied by rule " + strings.Join(rules, ", ")
		if msg := vis.p.message(rules[0]); msg != "" {
			reason += ": " + msg
		}
		return rules, reason
	}
	return nil, "no allow rule matched " + target(vis.v) + " for this user (the policy denies by default)"
}
