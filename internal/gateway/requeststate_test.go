package gateway

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/mcpgate/mcpgate/internal/secrets"
)

func testSealer(t testing.TB, id string, ttl time.Duration) *stateSealer {
	t.Helper()
	kr, err := secrets.NewKeyring(id, secrets.Key{ID: id, Material: []byte(strings.Repeat(id[:1], secrets.KeySize))})
	if err != nil {
		t.Fatal(err)
	}
	s := &stateSealer{}
	if err := s.init(kr, ttl, 0); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestRequestState: what the gateway's requestState accepts and refuses, and why.
func TestRequestState(t *testing.T) {
	s := testSealer(t, "a", time.Minute)
	other := testSealer(t, "b", time.Minute)
	now := time.Now()
	st := inputState{Owner: "alice", Route: "tracker", Method: "tools/call", Target: "balance", Args: argsDigest([]byte(`{"a":1,"b":[2]}`)), Key: "mcpgate-1", Exp: now.Add(time.Minute).Unix(),
		UpState: "up", UpResponses: []byte(`{"q":{"action":"accept"}}`)}
	sealed, err := s.seal(st)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(sealed, statePrefix) || strings.Contains(sealed, "alice") || strings.Contains(sealed, "balance") {
		t.Fatalf("sealed = %q", sealed)
	}
	got, err := s.open(sealed, now)
	if err != nil || got.Owner != "alice" || got.UpState != "up" || string(got.UpResponses) != `{"q":{"action":"accept"}}` {
		t.Fatalf("open = %+v, %v", got, err)
	}
	b := []byte(sealed)
	b[len(b)-3] ^= 1
	tests := []struct {
		name   string
		s      *stateSealer
		raw    string
		reason string
	}{
		{"tampered", s, string(b), "request_state_invalid"},
		{"other keys", other, sealed, "request_state_invalid"},
		{"no prefix", s, strings.TrimPrefix(sealed, statePrefix), "request_state_invalid"},
		{"too long", s, sealed + strings.Repeat("A", maxStateLen), "request_state_invalid"},
		{"empty", s, "", "request_state_invalid"},
		{"prefix only", s, statePrefix, "request_state_invalid"},
	}
	for _, tt := range tests {
		_, err := tt.s.open(tt.raw, now)
		var se *stateError
		if !errors.As(err, &se) || se.Reason != tt.reason {
			t.Errorf("%s: err = %v, want %s", tt.name, err, tt.reason)
		}
	}
	checks := []struct {
		name                               string
		owner, route, method, target, args string
		reason                             string
	}{
		{"same", "alice", "tracker", "tools/call", "balance", `{"a":1,"b":[2]}`, ""},
		{"same arguments, other formatting", "alice", "tracker", "tools/call", "balance", ` { "b" : [ 2 ], "a" : 1 } `, ""},
		{"another user", "bob", "tracker", "tools/call", "balance", `{"a":1,"b":[2]}`, "request_state_other_user"},
		{"another route", "alice", "files", "tools/call", "balance", `{"a":1,"b":[2]}`, "request_state_other_route"},
		{"another tool", "alice", "tracker", "tools/call", "transfer", `{"a":1,"b":[2]}`, "request_state_other_request"},
		{"another method", "alice", "tracker", "prompts/get", "balance", `{"a":1,"b":[2]}`, "request_state_other_request"},
		{"other arguments", "alice", "tracker", "tools/call", "balance", `{"a":1000,"b":[2]}`, "request_state_other_request"},
		{"no arguments", "alice", "tracker", "tools/call", "balance", ``, "request_state_other_request"},
	}
	for _, c := range checks {
		err := got.check(c.owner, c.route, c.method, c.target, argsDigest([]byte(c.args)))
		var se *stateError
		if (c.reason == "") != (err == nil) || (err != nil && (!errors.As(err, &se) || se.Reason != c.reason)) {
			t.Errorf("%s: check = %v, want %q", c.name, err, c.reason)
		}
	}
}

// TestArgsDigest: the same arguments however formatted give the same digest; numbers
// keep all their digits.
func TestArgsDigest(t *testing.T) {
	if argsDigest([]byte(`{"a":1,"b":{"c":"x"}}`)) != argsDigest([]byte(" {\"b\" : {\"c\":\"x\"},\n\"a\":1}")) {
		t.Error("member order or spacing changes the digest")
	}
	if argsDigest([]byte(`{"a":10000000000000001}`)) == argsDigest([]byte(`{"a":10000000000000000}`)) {
		t.Error("numbers beyond float64's precision digest alike")
	}
	if argsDigest(nil) != "" || argsDigest([]byte(`{}`)) == "" {
		t.Error("no arguments and {} must differ")
	}
}

// TestRequestStateExpires: a state opens until its TTL has passed, and not after.
func TestRequestStateExpires(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := testSealer(t, "a", 15*time.Minute)
		sealed, err := s.seal(inputState{Owner: "o", Key: "k", Exp: time.Now().Add(s.ttl).Unix()})
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(14*time.Minute + 59*time.Second)
		if _, err := s.open(sealed, time.Now()); err != nil {
			t.Fatalf("before expiry: %v", err)
		}
		time.Sleep(time.Second)
		var se *stateError
		if _, err := s.open(sealed, time.Now()); !errors.As(err, &se) || se.Reason != "request_state_expired" {
			t.Fatalf("after expiry: %v", err)
		}
	})
}

// FuzzRequestState: no client-supplied requestState makes open panic or opens unless it
// is one the sealer sealed; what was sealed opens to the same state.
func FuzzRequestState(f *testing.F) {
	s := testSealer(f, "a", time.Minute)
	now := time.Unix(1_800_000_000, 0)
	goodState := inputState{Owner: "o", Route: "r", Method: "tools/call", Target: "t", Key: "k", Exp: now.Unix() + 60}
	good, err := s.seal(goodState)
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{good, good[:len(good)-1], statePrefix, statePrefix + "v1.a.", statePrefix + "v1.a.AAAA", statePrefix + "v1..x", "v1.a.AAAA", "", "upstream-state"} {
		f.Add(seed, "o", "t")
	}
	f.Fuzz(func(t *testing.T, raw, owner, target string) {
		// (base64 ignores unused trailing bits, so other spellings of good open too.)
		if st, err := s.open(raw, now); err == nil && !reflect.DeepEqual(st, goodState) {
			t.Fatalf("opened a state it did not seal: %q → %+v", raw, st)
		}
		if !utf8.ValidString(raw) || !utf8.ValidString(owner) || !utf8.ValidString(target) {
			return // JSON strings are UTF-8: the values come from decoded JSON
		}
		st := inputState{Owner: owner, Route: "r", Method: "tools/call", Target: target, Key: "k", Exp: now.Unix() + 60, UpState: raw}
		sealed, err := s.seal(st)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.open(sealed, now)
		if owner == "" {
			if err == nil {
				t.Fatal("a state without an owner opened")
			}
			return
		}
		if err != nil || got.Owner != owner || got.Target != target || got.UpState != raw || got.check(owner, "r", "tools/call", target, "") != nil {
			t.Fatalf("round trip: %+v, %v", got, err)
		}
	})
}
