package ruleexpr

import (
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// field is one field of a rule variable: its CEL type and a getter on the Go value the
// activation hands out (*authn.Principal, *Client, *MCP, *Request).
type field struct {
	typ *types.Type
	get func(obj any) any
	set func(obj any) bool
}

type structDef struct {
	typ    *types.Type
	order  []string
	fields map[string]*types.FieldType
}

// Variable type names, as they appear in type errors.
const (
	userType    = "mcpgate.User"
	clientType  = "mcpgate.Client"
	mcpType     = "mcpgate.MCP"
	requestType = "mcpgate.Request"
)

func principal(o any) *User  { return o.(*User) }
func client(o any) *Client   { return o.(*Client) }
func mcpOf(o any) *MCP       { return o.(*MCP) }
func request(o any) *Request { return o.(*Request) }

var (
	listOfStrings = cel.ListType(cel.StringType)
	mapOfDyn      = cel.MapType(cel.StringType, cel.DynType)
)

// structDefs declares the fields of each variable. Every field is always "set" (has() is
// true), with the zero value when the request does not carry it, so rules never fail on a
// missing user attribute: an anonymous caller has an empty sub and no groups.
var structDefs = map[string][]struct {
	name string
	field
}{
	userType: {
		{"sub", field{cel.StringType, func(o any) any { return types.String(principal(o).Subject) }, nil}},
		{"email", field{cel.StringType, func(o any) any { return types.String(principal(o).Email) }, nil}},
		{"name", field{cel.StringType, func(o any) any { return types.String(principal(o).Name) }, nil}},
		{"groups", field{listOfStrings, func(o any) any { u := principal(o); return u.c.list(0, u.Groups) }, nil}},
		{"roles", field{listOfStrings, func(o any) any { u := principal(o); return u.c.list(1, u.Roles) }, nil}},
		{"scopes", field{listOfStrings, func(o any) any { u := principal(o); return u.c.list(2, u.Scopes) }, nil}},
		{"claims", field{mapOfDyn, func(o any) any { u := principal(o); return u.c.dynMap(3, u.Claims) }, nil}},
		{"issuer", field{cel.StringType, func(o any) any { return types.String(principal(o).Issuer) }, nil}},
		{"tenant", field{cel.StringType, func(o any) any { return types.String(principal(o).TenantID) }, nil}},
	},
	clientType: {
		{"id", field{cel.StringType, func(o any) any { return types.String(client(o).ID) }, nil}},
		{"dynamic", field{cel.BoolType, func(o any) any { return types.Bool(client(o).Dynamic) }, nil}},
	},
	mcpType: {
		{"method", field{cel.StringType, func(o any) any { return types.String(mcpOf(o).Method) }, nil}},
		{"tool", field{cel.StringType, func(o any) any { return types.String(mcpOf(o).Tool) }, nil}},
		{"prompt", field{cel.StringType, func(o any) any { return types.String(mcpOf(o).Prompt) }, nil}},
		{"uri", field{cel.StringType, func(o any) any { return types.String(mcpOf(o).URI) }, nil}},
		{"arguments", field{mapOfDyn, func(o any) any { m := mcpOf(o); return m.c.dynMap(0, m.arguments()) }, nil}},
	},
	requestType: {
		{"route", field{cel.StringType, func(o any) any { return types.String(request(o).Route) }, nil}},
		{"ip", field{cel.StringType, func(o any) any { return types.String(request(o).IP) }, nil}},
		{"time", field{cel.TimestampType, func(o any) any { r := request(o); return r.c.time(0, r.Time) }, nil}},
	},
}

// valCache holds the CEL values of a variable's list, map and time fields once a rule
// has read them, so that
// the rules of one decision share them instead of converting (and allocating) per read.
// The zero value is empty; copying a variable struct copies its cache, and replacing the
// struct (as list filtering does per item) empties it.
type valCache struct {
	set  uint8
	vals [4]ref.Val
}

func (c *valCache) list(i int, s []string) ref.Val {
	if c.set&(1<<i) == 0 {
		c.vals[i] = types.NewStringList(types.DefaultTypeAdapter, strs(s))
		c.set |= 1 << i
	}
	return c.vals[i]
}

func (c *valCache) dynMap(i int, m map[string]any) ref.Val {
	if c.set&(1<<i) == 0 {
		c.vals[i] = types.DefaultTypeAdapter.NativeToValue(claims(m))
		c.set |= 1 << i
	}
	return c.vals[i]
}

func (c *valCache) time(i int, t time.Time) ref.Val {
	if c.set&(1<<i) == 0 {
		c.vals[i] = timestamp(t).(ref.Val)
		c.set |= 1 << i
	}
	return c.vals[i]
}

var emptyStrings = []string{}

func strs(s []string) []string {
	if s == nil {
		return emptyStrings
	}
	return s
}

var emptyClaims = map[string]any{}

func claims(m map[string]any) map[string]any {
	if m == nil {
		return emptyClaims
	}
	return m
}

func timestamp(t time.Time) any {
	if t.IsZero() {
		t = time.Now()
	}
	return types.Timestamp{Time: t}
}

// provider adds the rule variable types to the standard CEL type registry.
type provider struct {
	*types.Registry
	structs map[string]*structDef
}

func newProvider(base *types.Registry) *provider {
	p := &provider{Registry: base, structs: map[string]*structDef{}}
	always := func(any) bool { return true }
	for name, fields := range structDefs {
		d := &structDef{typ: types.NewObjectType(name), fields: map[string]*types.FieldType{}}
		for _, f := range fields {
			get := f.get
			d.order = append(d.order, f.name)
			d.fields[f.name] = &types.FieldType{
				Type:    f.typ,
				IsSet:   ref.FieldTester(always),
				GetFrom: ref.FieldGetter(func(o any) (any, error) { return get(o), nil }),
			}
		}
		p.structs[name] = d
	}
	return p
}

func (p *provider) FindStructType(name string) (*types.Type, bool) {
	if d, ok := p.structs[name]; ok {
		return types.NewTypeTypeWithParam(d.typ), true
	}
	return p.Registry.FindStructType(name)
}

func (p *provider) FindStructFieldNames(name string) ([]string, bool) {
	if d, ok := p.structs[name]; ok {
		return d.order, true
	}
	return p.Registry.FindStructFieldNames(name)
}

func (p *provider) FindStructFieldType(name, field string) (*types.FieldType, bool) {
	if d, ok := p.structs[name]; ok {
		ft, ok := d.fields[field]
		return ft, ok
	}
	return p.Registry.FindStructFieldType(name, field)
}

// FieldNames returns the fields of a variable (user, client, mcp, request), for docs and
// suggestions.
func FieldNames(variable string) []string {
	t := map[string]string{"user": userType, "client": clientType, "mcp": mcpType, "request": requestType}[variable]
	var out []string
	for _, f := range structDefs[t] {
		out = append(out, f.name)
	}
	return out
}
