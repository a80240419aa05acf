package guid

import "testing"

func TestValid(t *testing.T) {
	for s, want := range map[string]bool{
		"11111111-1111-4111-8111-111111111111":  true,
		"AAAAAAAA-bbbb-CCCC-dddd-EEEEEEEEEEEE":  true,
		"":                                      false,
		"11111111111141118111111111111111":      false,
		"11111111-1111-4111-8111-11111111111g":  false,
		"11111111-1111-4111-8111-1111111111111": false,
		"organizations":                         false,
	} {
		if Valid(s) != want {
			t.Errorf("Valid(%q) = %v", s, !want)
		}
	}
}
