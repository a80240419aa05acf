package authz

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"

	"github.com/mcpgate/mcpgate/internal/authz/ruleexpr"
)

// Vars are the values rules see (user, client, mcp, request). The gateway fills one per
// request; see ruleexpr.Vars.
type Vars = ruleexpr.Vars

// Policy is a compiled set of rules. It is safe for concurrent use.
type Policy struct {
	rules        []*rule
	deny         []*rule
	require      []*rule
	allow        []*rule
	defaultAllow bool
	log          *slog.Logger
}

type rule struct {
	name    string
	effect  Effect
	scopes  []string
	message string
	self    []string // []string{name}, shared by decisions
	// allowReason is the reason of decisions this allow rule makes.
	allowReason string
	prog        cel.Program
	// listProg evaluates with mcp.arguments unknown (only for rules that read arguments).
	listProg  cel.Program
	readsMCP  bool
	readsArgs bool
	guards    []ruleexpr.Guard
}

// guarded reports whether a guard rules the rule out for v (it cannot match).
func (r *rule) guarded(v *Vars) bool {
	for _, g := range r.guards {
		if !g.Holds(&v.MCP) {
			return true
		}
	}
	return false
}

// gated methods are decided by allow rules and the default; other methods (initialize,
// ping, the list methods, notifications, ...) are refused only by a matching deny or
// require rule, so that a default-deny policy still lets clients connect and list.
func gated(method string) bool {
	switch method {
	case "tools/call", "prompts/get", "resources/read", "resources/subscribe":
		return true
	}
	return false
}

// condition is a rule condition compiled into the programs that evaluate it.
type condition struct {
	*ruleexpr.Compiled
	prog     cel.Program
	listProg cel.Program // partial evaluation for list filtering; nil unless the condition reads arguments
}

// conditions holds every condition compiled in this process, by its text, so that routes
// that share a condition (a rule set, or the same rule written on many routes) share its
// programs: compiling and planning one costs about 0.1 ms and a few KB kept. Programs are
// immutable and safe for concurrent use. At most maxConditions are kept; beyond that a
// condition is compiled for its rule alone.
var conditions struct {
	sync.Mutex
	m map[string]*condition
}

const maxConditions = 10000

func compileCondition(env *cel.Env, expr string) (*condition, error) {
	conditions.Lock()
	c := conditions.m[expr]
	conditions.Unlock()
	if c != nil {
		return c, nil
	}
	compiled, err := ruleexpr.Compile(expr)
	if err != nil {
		return nil, err
	}
	c = &condition{Compiled: compiled}
	if c.prog, err = env.Program(compiled.AST, cel.EvalOptions(cel.OptOptimize)); err != nil {
		return nil, err
	}
	if compiled.ReadsArguments {
		if c.listProg, err = env.Program(compiled.AST, cel.EvalOptions(cel.OptPartialEval)); err != nil {
			return nil, err
		}
	}
	conditions.Lock()
	defer conditions.Unlock()
	if conditions.m == nil {
		conditions.m = map[string]*condition{}
	}
	if prev := conditions.m[expr]; prev != nil {
		return prev, nil
	}
	if len(conditions.m) < maxConditions {
		conditions.m[expr] = c
	}
	return c, nil
}

// NewPolicy compiles a route's policy together with the rule sets it includes. at is the
// config path used in error messages (e.g. "routes[0].policy"). A nil policy allows
// everything.
func NewPolicy(pol *PolicyOptions, ruleSets map[string][]Rule, at string, log *slog.Logger) (*Policy, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Policy{defaultAllow: true, log: log}
	if pol == nil {
		return p, nil
	}
	env, err := ruleexpr.Env()
	if err != nil {
		return nil, err
	}
	var errs []error
	add := func(where string, i int, cr Rule) {
		rp := fmt.Sprintf("%s[%d] (%s)", where, i, cr.Name)
		c, err := compileCondition(env, cr.Condition)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", rp, err))
			return
		}
		r := &rule{name: cr.Name, effect: cr.Effect, scopes: cr.Scopes, message: cr.Message,
			self: []string{cr.Name}, readsMCP: c.ReadsMCP, readsArgs: c.ReadsArguments, guards: c.Guards,
			prog: c.prog, listProg: c.listProg}
		r.allowReason = "allowed by rule " + cr.Name
		p.rules = append(p.rules, r)
		switch r.effect {
		case EffectDeny:
			p.deny = append(p.deny, r)
		case EffectRequire:
			p.require = append(p.require, r)
		case EffectAllow:
			p.allow = append(p.allow, r)
		default:
			errs = append(errs, fmt.Errorf("%s: set exactly one of allow, deny or require", rp))
		}
	}
	for _, inc := range pol.Include {
		set, ok := ruleSets[inc]
		if !ok {
			errs = append(errs, fmt.Errorf("%s.include: rule set %q is not defined under ruleSets", at, inc))
			continue
		}
		for i, cr := range set {
			add("ruleSets."+inc, i, cr)
		}
	}
	for i, cr := range pol.Rules {
		add(at+".rules", i, cr)
	}
	switch pol.Default {
	case "allow":
		p.defaultAllow = true
	case "deny":
		p.defaultAllow = false
	case "":
		p.defaultAllow = len(p.rules) == 0
	default:
		errs = append(errs, fmt.Errorf("%s.default: %q is not allow or deny", at, pol.Default))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return p, nil
}

// Empty reports whether the policy has no rule (every request is decided by the default).
func (p *Policy) Empty() bool { return len(p.rules) == 0 }

// AllowsAll reports whether the policy allows every request (no rule, default allow).
func (p *Policy) AllowsAll() bool { return len(p.rules) == 0 && p.defaultAllow }

// result of evaluating one rule.
type outcome uint8

const (
	noMatch outcome = iota
	match
	unknown // depends on mcp.arguments, not known while filtering a list
	failed  // evaluation error (missing key, wrong type at run time)
)

// evalFor evaluates a deny or require rule. On methods that carry no arguments
// (initialize, ping, the list methods, ...) a rule that reads mcp.arguments and fails
// (no such key) does not match: otherwise `deny: mcp.arguments.amount > 1000` would close
// the whole route.
func (r *rule) evalFor(v *Vars, isGated bool) (outcome, error) {
	o, err := r.eval(v)
	if o == failed && !isGated && r.readsArgs && len(v.MCP.RawArguments) == 0 && len(v.MCP.Arguments) == 0 {
		return noMatch, nil
	}
	return o, err
}

func (r *rule) eval(v *Vars) (outcome, error) {
	if r.guarded(v) {
		return noMatch, nil
	}
	out, _, err := r.prog.Eval(v)
	return toOutcome(out, err)
}

func toOutcome(out ref.Val, err error) (outcome, error) {
	if err != nil {
		return failed, err
	}
	switch o := out.(type) {
	case types.Bool:
		if o {
			return match, nil
		}
		return noMatch, nil
	case *types.Unknown:
		return unknown, nil
	case *types.Err:
		return failed, o
	}
	return failed, fmt.Errorf("the condition returned %s, not a bool", out.Type().TypeName())
}

// Decide evaluates the policy for one request. Deny rules are checked first (deny
// overrides allow), then require rules (a caller lacking a matching rule's scopes gets a
// step-up decision), then, for tools/call, prompts/get, resources/read and
// resources/subscribe, allow rules and the default. A rule whose evaluation fails (for
// example it reads an argument the call does not have) counts as matching if it is a deny
// or require rule and as not matching if it is an allow rule: failures never grant.
func (p *Policy) Decide(v *Vars) Decision {
	if len(p.rules) == 0 {
		return p.defaultDecision(v)
	}
	var denied []string
	var why string
	isGated := gated(v.MCP.Method)
	for _, r := range p.deny {
		o, err := r.evalFor(v, isGated)
		if o == failed {
			p.log.Warn("policy rule failed; treating the deny rule as matching", "rule", r.name, "method", v.MCP.Method, "err", evalErr(err))
			if why == "" {
				why = fmt.Sprintf("deny rule %s could not be evaluated (%s), so it counts as matching", r.name, evalErr(err))
			}
		}
		if o == match || o == failed {
			denied = appendName(denied, r)
		}
	}
	if len(denied) > 0 {
		if why == "" {
			why = "denied by rule " + strings.Join(denied, ", ")
		}
		return Decision{Effect: EffectDeny, Rules: denied, Reason: why, Message: p.message(denied[0])}
	}
	var stepUp []string
	var scopes []string
	for _, r := range p.require {
		o, err := r.evalFor(v, isGated)
		if o == failed {
			p.log.Warn("policy rule failed; treating the require rule as matching", "rule", r.name, "method", v.MCP.Method, "err", evalErr(err))
		}
		if o != match && o != failed {
			continue
		}
		if missing := missingScopes(v, r.scopes); len(missing) > 0 {
			stepUp = appendName(stepUp, r)
			for _, s := range r.scopes {
				if !contains(scopes, s) {
					scopes = append(scopes, s)
				}
			}
		}
	}
	if len(stepUp) > 0 {
		return Decision{Effect: EffectRequire, Rules: stepUp, RequiredScopes: scopes, Message: p.message(stepUp[0]),
			Reason: fmt.Sprintf("rule %s requires scope %s", strings.Join(stepUp, ", "), strings.Join(scopes, " "))}
	}
	if !isGated {
		return Decision{Allow: true, Effect: EffectDefault, Reason: "no deny or require rule matched " + methodOrNone(v.MCP.Method)}
	}
	for _, r := range p.allow {
		o, err := r.eval(v)
		if o == failed {
			p.log.Debug("policy rule failed; treating the allow rule as not matching", "rule", r.name, "method", v.MCP.Method, "err", evalErr(err))
		}
		if o == match { // the first matching allow rule decides
			return Decision{Allow: true, Effect: EffectAllow, Rules: r.self, Reason: r.allowReason}
		}
	}
	return p.defaultDecision(v)
}

func (p *Policy) defaultDecision(v *Vars) Decision {
	if p.defaultAllow || !gated(v.MCP.Method) {
		return Decision{Allow: true, Effect: EffectDefault, Reason: "allowed by default"}
	}
	return Decision{Effect: EffectDefault, Reason: "no allow rule matched " + target(v) + " (the policy denies by default)"}
}

func (p *Policy) message(name string) string {
	for _, r := range p.rules {
		if r.name == name {
			return r.message
		}
	}
	return ""
}

// appendName appends r's name, reusing r.self when it is the only one (no allocation).
func appendName(names []string, r *rule) []string {
	if names == nil {
		return r.self
	}
	if len(names) == 1 && cap(names) == 1 {
		names = append([]string{names[0]}, r.name)
		return names
	}
	return append(names, r.name)
}

func missingScopes(v *Vars, want []string) []string {
	var missing []string
	for _, w := range want {
		if !contains(v.User.Scopes, w) {
			missing = append(missing, w)
		}
	}
	return missing
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func methodOrNone(m string) string {
	if m == "" {
		return "the request"
	}
	return m
}

func target(v *Vars) string {
	switch {
	case v.MCP.Tool != "":
		return "tool " + v.MCP.Tool
	case v.MCP.Prompt != "":
		return "prompt " + v.MCP.Prompt
	case v.MCP.URI != "":
		return "resource " + v.MCP.URI
	}
	return methodOrNone(v.MCP.Method)
}

// quoted matches quoted values in CEL run-time errors ("cannot convert 'abc' to int"),
// which may hold argument values: they never reach logs, reasons or audit events.
var quoted = regexp.MustCompile(`'[^']*'|"[^"]*"`)

// evalErr renders a rule evaluation error without the values it may quote.
func evalErr(err error) string {
	if err == nil {
		return ""
	}
	return quoted.ReplaceAllStringFunc(err.Error(), func(q string) string {
		switch q[1 : len(q)-1] {
		case "string", "int", "uint", "double", "bool", "bytes", "list", "map", "null_type", "timestamp", "duration", "type":
			return q // a type name, not a value
		}
		return "'…'"
	})
}

func evalProg(p cel.Program, act any) (ref.Val, error) {
	out, _, err := p.Eval(act)
	return out, err
}
