package cli

import (
	"reflect"
	"testing"
)

func TestToolArgs(t *testing.T) {
	tests := []struct {
		name    string
		kv      []string
		raw     string
		want    map[string]any
		wantErr bool
	}{
		{"strings and JSON values", []string{"city=Paris", "days=2", "tags=[\"a\"]", "ok=true"}, "",
			map[string]any{"city": "Paris", "days": float64(2), "tags": []any{"a"}, "ok": true}, false},
		{"value with equals sign", []string{"q=a=b"}, "", map[string]any{"q": "a=b"}, false},
		{"json object", nil, `{"city":"Rome","days":1}`, map[string]any{"city": "Rome", "days": float64(1)}, false},
		{"no args", nil, "", map[string]any{}, false},
		{"missing equals", []string{"city"}, "", nil, true},
		{"empty key", []string{"=x"}, "", nil, true},
		{"json not an object", nil, `[1]`, nil, true},
		{"both forms", []string{"a=1"}, `{}`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := toolArgs(tt.kv, tt.raw)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}
