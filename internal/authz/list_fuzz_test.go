package authz

import (
	"encoding/json"
	"strings"
	"testing"
)

// FuzzFilterTools checks the list filter against encoding/json, which is how Go clients
// read the result: for any valid message the filter accepts, the output is valid JSON and
// no tool a client would decode from it is one bob may not use (get_quote is denied to
// him, debug_* is excluded, get_quote's new name stock_quote is only for finance).
func FuzzFilterTools(f *testing.F) {
	for _, s := range []string{
		toolsList,
		`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"na\u006de":"get_quote"},{"name":"pay"}]}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"NAME":"get_quote","name":"pay"}]}}`,
		`{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"get_\u0071uote"}]}}`,
		`[{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"get_quote"}]}}]`,
		`{"jsonrpc":"2.0","id":1,"result":{"Tools":[{"name":"debug_x"}],"tools":[]}}`,
		`{"result":{"tools":[{"name":"a\"b"},{"name":"stock_quote"}]},"id":1}`,
	} {
		f.Add(s)
	}
	rt := bankRoute(f, RefusalReveal)
	f.Fuzz(func(t *testing.T, in string) {
		if !json.Valid([]byte(in)) {
			return
		}
		filt := rt.BatchListFilter(&Vars{User: bob}, map[string]string{"1": "tools/list"})
		single := rt.ListFilter(&Vars{User: bob}, "tools/list")
		stream := rt.StreamFilter(&Vars{User: bob})
		for _, fl := range []*ListFilter{single, filt, stream} {
			out, err := fl.Filter([]byte(in))
			if err != nil {
				continue
			}
			if !json.Valid(out) {
				t.Fatalf("invalid output for %s:\n%s", in, out)
			}
			var msgs []json.RawMessage
			if strings.HasPrefix(strings.TrimSpace(string(out)), "[") {
				json.Unmarshal(out, &msgs)
			} else {
				msgs = []json.RawMessage{out}
			}
			for _, m := range msgs {
				var r struct {
					ID     json.RawMessage
					Method *string
					Result *struct {
						Tools []struct{ Name string }
					}
				}
				if json.Unmarshal(m, &r) != nil || r.Result == nil || r.Method != nil {
					continue
				}
				if fl == filt && string(r.ID) != "1" {
					continue
				}
				for _, tool := range r.Result.Tools {
					if tool.Name == "get_quote" || tool.Name == "stock_quote" || strings.HasPrefix(tool.Name, "debug_") {
						t.Fatalf("%q leaked for bob from %s:\n%s", tool.Name, in, out)
					}
				}
			}
		}
	})
}
