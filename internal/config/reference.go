package config

import (
	"fmt"
	"reflect"
	"strings"
)

// Reference renders the field-by-field configuration reference as Markdown, from the Go
// types and their doc comments. docs/configuration-reference.md is this output; a test keeps
// them in sync (make schema regenerates both).
func Reference() (string, error) {
	comments, err := typeComments()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("# Configuration reference\n\n")
	b.WriteString("Generated from the Go types by `make schema`; do not edit by hand. ")
	b.WriteString("See [configuration.md](configuration.md) for an overview and examples. ")
	b.WriteString("Every string value may use `${VAR}` or `${VAR:-default}`; durations are written like `30s`, `5m` or `1h30m`; sizes like `4MiB`.\n")
	seen := map[reflect.Type]bool{}
	queue := []reflect.Type{reflect.TypeOf(Config{})}
	for len(queue) > 0 {
		t := queue[0]
		queue = queue[1:]
		if seen[t] {
			continue
		}
		seen[t] = true
		fmt.Fprintf(&b, "\n## %s\n\n", t.Name())
		if d := comments[pkgPath+"."+t.Name()]; d != "" {
			b.WriteString(d + "\n\n")
		}
		b.WriteString("| key | type | description |\n|---|---|---|\n")
		var nested []reflect.Type
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("yaml")
			name, _, _ := strings.Cut(tag, ",")
			if !f.IsExported() || name == "-" || name == "" {
				continue
			}
			typeName, elem := describeType(f.Type)
			if elem != nil {
				nested = append(nested, elem)
			}
			desc := strings.ReplaceAll(comments[pkgPath+"."+t.Name()+"."+f.Name], "|", `\|`)
			fmt.Fprintf(&b, "| `%s` | %s | %s |\n", name, typeName, desc)
		}
		queue = append(queue, nested...)
	}
	return b.String(), nil
}

// describeType names a field's type for readers and returns the struct type to document
// next, if any.
func describeType(t reflect.Type) (string, reflect.Type) {
	switch t {
	case reflect.TypeOf(Duration(0)):
		return "duration", nil
	case reflect.TypeOf(ByteSize(0)):
		return "size", nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return describeType(t.Elem())
	case reflect.Struct:
		if t.NumField() == 0 {
			return "{} (presence turns it on)", nil
		}
		return fmt.Sprintf("[%s](#%s)", t.Name(), strings.ToLower(t.Name())), t
	case reflect.Slice:
		inner, elem := describeType(t.Elem())
		return "list of " + inner, elem
	case reflect.Map:
		inner, elem := describeType(t.Elem())
		return "map of name → " + inner, elem
	default:
		return t.Kind().String(), nil
	}
}
