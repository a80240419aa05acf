package config

import (
	"embed"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"reflect"
	"strings"

	"github.com/invopop/jsonschema"
)

// The package's own source is embedded so that field comments become schema descriptions
// wherever the binary runs, not only inside a checkout.
//
//go:embed *.go
var sources embed.FS

const pkgPath = "github.com/mcpgate/mcpgate/internal/config"

// Schema returns the JSON Schema of the configuration file, generated from the Go types
// and their doc comments. docs/config.schema.json is this output; a test keeps them in sync.
func Schema() ([]byte, error) {
	comments, err := typeComments()
	if err != nil {
		return nil, fmt.Errorf("reading config comments: %w", err)
	}
	r := &jsonschema.Reflector{
		FieldNameTag:              "yaml",
		AllowAdditionalProperties: false,
		CommentMap:                comments,
		Mapper: func(t reflect.Type) *jsonschema.Schema {
			switch t {
			case reflect.TypeOf(Duration(0)):
				return &jsonschema.Schema{Type: "string", Pattern: `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`, Description: "a duration such as 30s, 5m or 1h30m"}
			case reflect.TypeOf(ByteSize(0)):
				return &jsonschema.Schema{OneOf: []*jsonschema.Schema{{Type: "integer", Minimum: json.Number("0")}, {Type: "string", Pattern: `^[0-9]+ ?(B|KB|MB|GB|KiB|MiB|GiB)?$`}}, Description: "a size in bytes, or with a unit such as 512KiB or 4MiB"}
			}
			return nil
		},
	}
	s := r.Reflect(&Config{})
	s.ID = "https://github.com/mcpgate/mcpgate/docs/config.schema.json"
	s.Title = "mcpgate configuration"
	return json.MarshalIndent(s, "", "  ")
}

// typeComments maps "pkg.Type" and "pkg.Type.Field" to their doc comments.
func typeComments() (map[string]string, error) {
	out := map[string]string{}
	fset := token.NewFileSet()
	entries, err := fs.ReadDir(sources, ".")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		src, err := sources.ReadFile(e.Name())
		if err != nil {
			return nil, err
		}
		f, err := parser.ParseFile(fset, e.Name(), src, parser.ParseComments)
		if err != nil {
			return nil, err
		}
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				if !ts.Name.IsExported() {
					continue
				}
				doc := ts.Doc.Text()
				if doc == "" && len(gd.Specs) == 1 {
					doc = gd.Doc.Text()
				}
				if doc != "" {
					out[pkgPath+"."+ts.Name.Name] = cleanComment(doc)
				}
				st, ok := ts.Type.(*ast.StructType)
				if !ok {
					continue
				}
				for _, field := range st.Fields.List {
					txt := field.Doc.Text()
					if txt == "" {
						txt = field.Comment.Text()
					}
					if txt == "" {
						continue
					}
					for _, n := range field.Names {
						if n.IsExported() {
							out[pkgPath+"."+ts.Name.Name+"."+n.Name] = cleanComment(txt)
						}
					}
				}
			}
		}
	}
	return out, nil
}

func cleanComment(s string) string { return strings.Join(strings.Fields(s), " ") }
