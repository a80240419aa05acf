package ruleexpr

import (
	"fmt"
	"regexp"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
)

// Variables are the names a rule can use.
var Variables = []string{"user", "client", "mcp", "request"}

var (
	envOnce sync.Once
	env     *cel.Env
	envErr  error
)

// Env returns the CEL environment shared by every rule. It is built once.
func Env() (*cel.Env, error) {
	envOnce.Do(func() {
		reg, err := types.NewRegistry()
		if err != nil {
			envErr = err
			return
		}
		env, envErr = cel.NewEnv(
			cel.CustomTypeAdapter(reg),
			cel.CustomTypeProvider(newProvider(reg)),
			cel.Variable("user", cel.ObjectType(userType)),
			cel.Variable("client", cel.ObjectType(clientType)),
			cel.Variable("mcp", cel.ObjectType(mcpType)),
			cel.Variable("request", cel.ObjectType(requestType)),
			ext.Strings(),
			ext.Sets(),
			ext.Lists(),
			cel.OptionalTypes(),
		)
	})
	return env, envErr
}

// Issue is one problem found in an expression, at a 1-based line and column.
type Issue struct {
	Line, Column int
	Message      string
}

// Error reports why an expression does not compile. Its message reads
// "1:26: found no matching overload for '_>_' applied to '(string, int)': ..." so that
// config validation can prefix it with the rule's path and name.
type Error struct {
	Expr   string
	Issues []Issue
}

func (e *Error) Error() string {
	var b strings.Builder
	for i, is := range e.Issues {
		if i > 0 {
			b.WriteString("; ")
		}
		if is.Line > 0 {
			fmt.Fprintf(&b, "%d:%d: ", is.Line, is.Column)
		}
		b.WriteString(is.Message)
		if snip := snippet(e.Expr, is.Line, is.Column); snip != "" {
			b.WriteString(" at ")
			b.WriteString(snip)
		}
	}
	return b.String()
}

// snippet quotes the expression line with a ▸ marking the column.
func snippet(expr string, line, col int) string {
	if line <= 0 {
		return ""
	}
	lines := strings.Split(expr, "\n")
	if line > len(lines) {
		return ""
	}
	l := []rune(lines[line-1])
	c := col - 1
	if c < 0 || c > len(l) {
		return ""
	}
	const width = 40
	start, end, pre, post := 0, len(l), "", ""
	if c-width > 0 {
		start, pre = c-width, "…"
	}
	if c+width < len(l) {
		end, post = c+width, "…"
	}
	return "`" + pre + string(l[start:c]) + "▸" + string(l[c:end]) + post + "`"
}

// Compiled is a type-checked rule condition.
type Compiled struct {
	AST *cel.Ast
	// ReadsMCP is true when the condition reads any mcp.* field; conditions that do not
	// are decided once per principal when a list is filtered.
	ReadsMCP bool
	// ReadsArguments is true when the condition reads mcp.arguments (unknown while a list
	// is filtered: such a rule never hides an item).
	ReadsArguments bool
	// Guards are necessary conditions on mcp fields (see Guard).
	Guards []Guard
}

// compiled holds the conditions compiled in this process, by their text: validating a
// configuration and building its routes compile each condition once, however many routes
// it appears on. At most maxCompiled are kept.
var compiled struct {
	sync.Mutex
	m map[string]*Compiled
}

const maxCompiled = 10000

// Compile parses and type-checks a rule condition, which must be a bool (or dyn) expression.
// The error, if any, is an *Error. The result may be shared with other callers that
// compiled the same text: it must not be modified.
func Compile(expr string) (*Compiled, error) {
	compiled.Lock()
	c := compiled.m[expr]
	compiled.Unlock()
	if c != nil {
		return c, nil
	}
	c, err := compile(expr)
	if err != nil {
		return nil, err
	}
	compiled.Lock()
	defer compiled.Unlock()
	if compiled.m == nil {
		compiled.m = map[string]*Compiled{}
	}
	if len(compiled.m) < maxCompiled {
		compiled.m[expr] = c
	}
	return c, nil
}

func compile(expr string) (*Compiled, error) {
	e, err := Env()
	if err != nil {
		return nil, fmt.Errorf("building the rule environment: %w", err)
	}
	if strings.TrimSpace(expr) == "" {
		return nil, &Error{Expr: expr, Issues: []Issue{{Message: "the condition is empty: write a CEL expression such as 'finance' in user.groups (or 'true')"}}}
	}
	checked, iss := e.Compile(expr)
	if iss != nil && iss.Err() != nil {
		out := &Error{Expr: expr}
		for _, ce := range iss.Errors() {
			out.Issues = append(out.Issues, Issue{
				Line:    ce.Location.Line(),
				Column:  ce.Location.Column() + 1,
				Message: explain(ce.Message),
			})
		}
		return nil, out
	}
	switch t := checked.OutputType(); {
	case t.IsExactType(types.BoolType), t.IsExactType(types.DynType):
	default:
		return nil, &Error{Expr: expr, Issues: []Issue{{Line: 1, Column: 1,
			Message: fmt.Sprintf("the condition is a %s, expected a bool: compare it, e.g. %s", typeName(t), boolHint(t))}}}
	}
	c := &Compiled{AST: checked}
	c.ReadsMCP, c.ReadsArguments = mcpReads(checked.NativeRep())
	c.Guards = guards(checked.NativeRep().Expr())
	return c, nil
}

func typeName(t *types.Type) string {
	if t.Kind() == types.StructKind {
		return strings.TrimPrefix(t.TypeName(), "mcpgate.") + " object"
	}
	return t.String()
}

func boolHint(t *types.Type) string {
	switch {
	case t.IsExactType(types.StringType):
		return `mcp.tool == "get_quote"`
	case t.Kind() == types.ListKind:
		return `"finance" in user.groups`
	case t.Kind() == types.MapKind:
		return `"region" in user.claims`
	}
	return `mcp.arguments.amount > 1000`
}

var (
	reUndeclared = regexp.MustCompile(`^undeclared reference to '([^']*)'`)
	reUndefField = regexp.MustCompile(`^undefined field '([^']*)'`)
	reOverload   = regexp.MustCompile(`^found no matching overload for '([^']*)' applied to '\((.*)\)'`)
)

// explain adds what was expected to CEL's own messages.
func explain(msg string) string {
	msg = strings.ReplaceAll(msg, "mcpgate.", "")
	if m := reUndeclared.FindStringSubmatch(msg); m != nil {
		name := m[1]
		hint := "the variables are user, client, mcp and request"
		if strings.Contains(msg, "did you mean") {
			return msg + ": " + hint
		}
		if s := closest(name, Variables); s != "" {
			hint = fmt.Sprintf("did you mean %q? (%s)", s, hint)
		}
		return msg + ": " + hint
	}
	if m := reUndefField.FindStringSubmatch(msg); m != nil {
		for _, v := range Variables {
			fields := FieldNames(v)
			if s := closest(m[1], fields); s != "" {
				return fmt.Sprintf("%s: did you mean %q? (%s has %s)", msg, s, v, strings.Join(fields, ", "))
			}
		}
		return msg + ": user has " + strings.Join(FieldNames("user"), ", ") + "; client has " + strings.Join(FieldNames("client"), ", ") +
			"; mcp has " + strings.Join(FieldNames("mcp"), ", ") + "; request has " + strings.Join(FieldNames("request"), ", ")
	}
	if m := reOverload.FindStringSubmatch(msg); m != nil {
		op := operator(m[1])
		args := strings.Split(m[2], ", ")
		if len(args) == 2 && op != "" && args[0] != args[1] {
			return fmt.Sprintf("%s: both sides of %s must have the same type, but the left is %s and the right is %s (convert one side, e.g. int(...), double(...) or string(...))", msg, op, args[0], args[1])
		}
		if op != "" {
			return fmt.Sprintf("%s: %s does not apply to %s", msg, op, m[2])
		}
	}
	return msg
}

func operator(fn string) string {
	switch fn {
	case "_>_":
		return ">"
	case "_>=_":
		return ">="
	case "_<_":
		return "<"
	case "_<=_":
		return "<="
	case "_==_":
		return "=="
	case "_!=_":
		return "!="
	case "_+_":
		return "+"
	case "_-_":
		return "-"
	case "_*_":
		return "*"
	case "_/_":
		return "/"
	case "@in":
		return "in"
	case "_&&_":
		return "&&"
	case "_||_":
		return "||"
	case "!_":
		return "!"
	}
	return ""
}

// mcpReads reports whether the expression reads mcp.* at all and mcp.arguments in
// particular (or the whole mcp object, conservatively counted as reading arguments).
func mcpReads(a *ast.AST) (readsMCP, readsArgs bool) {
	idents, plainSelects := 0, 0
	ast.PostOrderVisit(a.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		switch e.Kind() {
		case ast.IdentKind:
			if e.AsIdent() == "mcp" {
				idents++
			}
		case ast.SelectKind:
			s := e.AsSelect()
			if op := s.Operand(); op.Kind() == ast.IdentKind && op.AsIdent() == "mcp" && s.FieldName() != "arguments" {
				plainSelects++
			}
		}
	}))
	return idents > 0, idents > plainSelects
}

// closest returns the candidate nearest to s (edit distance at most 2), or "".
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	for _, c := range candidates {
		if d := levenshtein(s, c); d < bestD && d > 0 {
			best, bestD = c, d
		}
	}
	return best
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
