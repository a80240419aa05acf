package aadsts_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/aadsts"
)

func TestAADSTSTable(t *testing.T) {
	required := []int{50013, 50076, 50079, 65001, 65004, 70011, 700016, 7000215, 7000114, 90009, 9010010, 500011,
		50011, 50148, 240002, 700024, 650053, 50020, 50034, 50053, 50055, 50057, 50058, 50105, 50126, 50128, 50158,
		53003, 54005, 65005, 70000, 70008, 700051, 700054, 7000112, 7000218, 90014, 90072, 900144, 9002313}
	for _, c := range required {
		e, ok := aadsts.Explain(c)
		if !ok {
			t.Errorf("AADSTS%d is not explained", c)
			continue
		}
		if e.Code != c || e.Error == "" || e.Cause == "" || e.Fix == "" {
			t.Errorf("AADSTS%d: incomplete %+v", c, e)
		}
	}
	if n := len(aadsts.Codes()); n < 40 {
		t.Errorf("the table explains %d codes, want at least 40", n)
	}
	if !slices.IsSorted(aadsts.Codes()) {
		t.Error("Codes is not sorted")
	}
	if _, ok := aadsts.Explain(1); ok {
		t.Error("AADSTS1 should be unknown")
	}
}

func TestParseAADSTS(t *testing.T) {
	body := `{"error":"invalid_grant","error_description":"AADSTS65001: The user or administrator has not consented to use the application with ID '0c11e470'. Trace ID: x Correlation ID: y Timestamp: 2026-01-01 00:00:00Z","error_codes":[65001],"suberror":"consent_required"}`
	for in, want := range map[string][]int{
		"65001":                         {65001},
		"AADSTS9010010":                 {9010010},
		" aadsts50076\n":                {50076},
		body:                            {65001},
		"AADSTS50013 then AADSTS500133": {50013, 500133},
		"no code here":                  nil,
	} {
		if got := aadsts.Parse(in); !slices.Equal(got, want) {
			t.Errorf("Parse(%.30q) = %v, want %v", in, got, want)
		}
	}
	e, _ := aadsts.Explain(9010010)
	if !strings.Contains(e.Fix, "identifierUris") {
		t.Errorf("9010010 fix should name identifierUris: %s", e.Fix)
	}
}
