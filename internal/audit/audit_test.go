package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	jwt        = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVl"
	apiKey     = "sk-live-0123456789abcdefghijklmnop"
	cardNumber = "4111111111111111"
)

// TestEventsHaveNoSecrets records an allowed and a denied call whose arguments carry a
// token in a configured redact field, a credential-named key and a token-looking value,
// with an Authorization header on the request, through the real file sink, and checks the
// written file.
func TestEventsHaveNoSecrets(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	f, err := NewFile(path, 1<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	a := New(Options{}, f)
	hdr := http.Header{"Authorization": {"Bearer " + jwt}, "User-Agent": {"vscode/1.0"}, "Cookie": {"s=" + apiKey}}
	args := json.RawMessage(`{"amount": 12.50, "card": {"number": "` + cardNumber + `", "holder": "Alice"},
		"note": "Bearer ` + jwt + `", "api_key": "plain-looking", "items": [{"secret_code": "x1"}, {"ok": "` + apiKey + `"}]}`)
	red := NewRedactor(&RedactOptions{RedactFields: []string{"card.number", "items.*.ok"}})
	base := input{
		Time: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC), Route: "bank", Subject: "alice", Email: "alice@example.com",
		ClientID: "vscode", Method: "tools/call", Tool: "transfer", Arguments: args, Header: hdr,
		RequestID: json.RawMessage(`"req-1"`), SessionID: "session-" + apiKey, UpstreamAuth: "obo", Latency: 1500 * time.Microsecond,
	}
	allowed := base
	allowed.Decision, allowed.Rules, allowed.Status, allowed.UpstreamStatus, allowed.Record = "allow", []string{"staff"}, 200, 200, red
	denied := base
	denied.Decision, denied.Rules, denied.Reason, denied.Status = "deny", []string{"big-transfers"}, "denied by rule big-transfers", 200
	denied.Error = "upstream said: invalid token Bearer " + jwt
	a.Record(newEvent(allowed))
	a.Record(newEvent(denied))
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{jwt, apiKey, cardNumber, "plain-looking", "x1", "session-"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("audit file contains %q:\n%s", secret, raw)
		}
	}
	events, skipped, err := ReadJSONLines(bytes.NewReader(raw), Filter{Limit: -1})
	if err != nil || skipped != 0 || len(events) != 2 {
		t.Fatalf("read %d events (%d skipped, %v)", len(events), skipped, err)
	}
	ev, dn := events[0], events[1]
	if ev.Decision != "allow" || dn.Decision != "deny" || dn.Rules[0] != "big-transfers" || dn.Reason == "" {
		t.Errorf("decisions not recorded: %+v / %+v", ev, dn)
	}
	if ev.User != "alice" || ev.Email != "alice@example.com" || ev.ClientID != "vscode" || ev.Tool != "transfer" ||
		ev.RequestID != "req-1" || ev.UpstreamAuth != "obo" || ev.UserAgent != "vscode/1.0" || ev.LatencyMS != 1.5 || ev.UpstreamStatus != 200 {
		t.Errorf("fields not recorded: %+v", ev)
	}
	if ev.ArgumentsHash == "" || ev.ArgumentsHash != dn.ArgumentsHash || ev.ArgumentsHash != hashArguments(args) {
		t.Errorf("arguments hash %q / %q", ev.ArgumentsHash, dn.ArgumentsHash)
	}
	if len(ev.SessionHash) != 32 || dn.Arguments != nil {
		t.Errorf("session hash %q; arguments of a route that did not opt in: %s", ev.SessionHash, dn.Arguments)
	}
	var got map[string]any
	if err := json.Unmarshal(ev.Arguments, &got); err != nil {
		t.Fatal(err)
	}
	want := `{"amount":12.50,"api_key":"[redacted]","card":{"holder":"Alice","number":"[redacted]"},"items":[{"secret_code":"[redacted]"},{"ok":"[redacted]"}],"note":"[redacted]"}`
	if string(ev.Arguments) != want {
		t.Errorf("recorded arguments\n%s\nwant\n%s", ev.Arguments, want)
	}
	if !strings.Contains(dn.Error, "[redacted]") {
		t.Errorf("error not scrubbed: %q", dn.Error)
	}
}

func TestHashArgumentsCanonical(t *testing.T) {
	a := hashArguments(json.RawMessage(`{"b": [1, 2.50, "<x>"], "a": {"z": null, "y": true}}`))
	b := hashArguments(json.RawMessage(`{"a":{"y":true,"z":null},"b":[1,2.50,"<x>"]}`))
	c := hashArguments(json.RawMessage(`{"a":{"y":true,"z":null},"b":[1,2.5,"<x>"]}`))
	if a != b {
		t.Error("formatting and key order change the hash")
	}
	if a == c {
		t.Error("different arguments (2.50 vs 2.5 as written) hash the same")
	}
	if got, _ := Canonical([]byte(`{"b":"<&>","a":1}`)); string(got) != `{"a":1,"b":"<&>"}` {
		t.Errorf("canonical = %s", got)
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		fields []string
		max    int64
		in     string
		want   string
	}{
		{[]string{"a.b.c"}, 0, `{"a":{"b":{"c":1,"d":2}}}`, `{"a":{"b":{"c":"[redacted]","d":2}}}`},
		{[]string{"list.*.v"}, 0, `{"list":[{"v":1},{"v":2,"w":3}]}`, `{"list":[{"v":"[redacted]"},{"v":"[redacted]","w":3}]}`},
		{[]string{"list.1"}, 0, `{"list":["a","b"]}`, `{"list":["a","[redacted]"]}`},
		{[]string{"*.pan"}, 0, `{"x":{"pan":1},"y":{"pan":2}}`, `{"x":{"pan":"[redacted]"},"y":{"pan":"[redacted]"}}`},
		{nil, 0, `{"Password":"p","clientSecret":"s","refresh_token":"r","query":"select"}`, `{"Password":"[redacted]","clientSecret":"[redacted]","query":"select","refresh_token":"[redacted]"}`},
		{nil, 0, `{"q":"AKIAABCDEFGHIJKLMNOP","r":"ghp_0123456789abcdefghij0123"}`, `{"q":"[redacted]","r":"[redacted]"}`},
		{nil, 16, `{"q":"a long value here"}`, `{"truncated":true}`},
		{nil, 0, `not json`, `{"unparsable":true}`},
		{[]string{"missing.path"}, 0, `{"a":1}`, `{"a":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got := NewRedactor(&RedactOptions{RedactFields: tt.fields, MaxBytes: tt.max}).Redact([]byte(tt.in))
			if string(got) != tt.want {
				t.Fatalf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
	if NewRedactor(nil) != nil {
		t.Fatal("no auditArguments section must record no arguments")
	}
}

func TestFileRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.jsonl")
	const maxSize = 2000
	f, err := NewFile(path, maxSize, 2)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 60 {
		if err := f.Write(ctx, []Event{{Time: time.Unix(int64(1_700_000_000+i), 0).UTC(), Route: "r", Method: "tools/call", Tool: fmt.Sprintf("tool-%02d", i), Decision: "allow"}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		st, _ := os.Stat(filepath.Join(dir, e.Name()))
		if st.Size() > maxSize {
			t.Errorf("%s is %d bytes, over the %d limit", e.Name(), st.Size(), maxSize)
		}
		if st.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", e.Name(), st.Mode().Perm())
		}
	}
	if strings.Join(names, ",") != "audit.jsonl,audit.jsonl.1,audit.jsonl.2" {
		t.Fatalf("files = %v, want the current file and 2 rotated ones", names)
	}
	events, skipped, err := QueryFiles(path, 2, Filter{Limit: -1})
	if err != nil || skipped != 0 {
		t.Fatal(err, skipped)
	}
	// The newest events survive, in order, with no line split across files.
	if len(events) == 0 || len(events) >= 60 || events[len(events)-1].Tool != "tool-59" {
		t.Fatalf("%d events, last %+v", len(events), events[len(events)-1])
	}
	for i := 1; i < len(events); i++ {
		if !events[i].Time.After(events[i-1].Time) {
			t.Fatalf("events out of order at %d", i)
		}
	}
	// Reopening appends to the current file.
	f, err = NewFile(path, maxSize, 2)
	if err != nil {
		t.Fatal(err)
	}
	f.Write(ctx, []Event{{Time: time.Unix(1_800_000_000, 0).UTC(), Route: "r", Tool: "after-reopen", Decision: "deny"}})
	f.Close()
	got, _, _ := QueryFiles(path, 2, Filter{Decision: "deny"})
	if len(got) != 1 || got[0].Tool != "after-reopen" {
		t.Fatalf("after reopen: %+v", got)
	}
}

// blockingSink injects a stalled sink.
type blockingSink struct {
	release chan struct{}
	mu      sync.Mutex
	n       int
}

func (s *blockingSink) Write(_ context.Context, ev []Event) error {
	<-s.release
	s.mu.Lock()
	s.n += len(ev)
	s.mu.Unlock()
	return nil
}
func (s *blockingSink) Close() error { return nil }

func TestRecordNeverBlocks(t *testing.T) {
	sink := &blockingSink{release: make(chan struct{})}
	var logs bytes.Buffer
	a := New(Options{Buffer: 10, Logger: slog.New(slog.NewTextHandler(&logs, nil))}, sink)
	done := make(chan struct{})
	go func() {
		for i := range 1000 {
			a.Record(Event{Route: "r", Tool: fmt.Sprint(i)})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Record blocked on a stalled sink")
	}
	close(sink.release)
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// At most the buffer plus the batch taken before the sink stalled (256) were kept; the
	// rest were counted, and nothing was lost silently.
	if a.Dropped() < 1000-10-256 || uint64(sink.n)+a.Dropped() != 1000 {
		t.Fatalf("written %d, dropped %d of 1000", sink.n, a.Dropped())
	}
	if !strings.Contains(logs.String(), "audit buffer full") {
		t.Errorf("drops not logged: %s", logs.String())
	}
	// Late events (a request finishing during shutdown) are dropped, not a panic.
	before := a.Dropped()
	a.Record(Event{Route: "r"})
	if a.Dropped() != before+1 {
		t.Error("an event recorded after Close was not counted as dropped")
	}
}

func TestMemoryStoreQuery(t *testing.T) {
	s := NewMemoryStore(0)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	for i, e := range []Event{
		{User: "alice", Email: "alice@example.com", Tool: "transfer", Decision: "allow"},
		{User: "bob", Tool: "get_quote", Decision: "deny"},
		{User: "alice", Prompt: "summary", Decision: "allow"},
		{User: "alice", Tool: "transfer", Decision: "deny"},
	} {
		e.Time = t0.Add(time.Duration(i) * time.Minute)
		if err := s.AppendAudit(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		f    Filter
		want int
	}{
		{Filter{}, 4},
		{Filter{User: "alice"}, 3},
		{Filter{User: "ALICE@example.com"}, 1},
		{Filter{Tool: "transfer"}, 2},
		{Filter{Tool: "summary"}, 1},
		{Filter{Decision: "deny"}, 2},
		{Filter{User: "alice", Decision: "deny"}, 1},
		{Filter{Since: t0.Add(90 * time.Second)}, 2},
		{Filter{Limit: 1}, 1},
	}
	for _, tt := range tests {
		got, err := s.QueryAudit(ctx, tt.f)
		if err != nil || len(got) != tt.want {
			t.Errorf("%+v: %d events (%v), want %d", tt.f, len(got), err, tt.want)
		}
	}
	if got, _ := s.QueryAudit(ctx, Filter{Limit: 1}); got[0].Decision != "deny" || got[0].User != "alice" {
		t.Errorf("limit must keep the most recent: %+v", got)
	}
}

func TestOpen(t *testing.T) {
	var out bytes.Buffer
	a, err := Open(nil, &out, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Record(Event{Route: "r", Decision: "allow"})
	a.Close(context.Background())
	if !strings.Contains(out.String(), `"decision":"allow"`) {
		t.Fatalf("default sink is stdout JSON lines: %q", out.String())
	}
	if _, err := Open(&SinkOptions{Store: true}, &out, nil, nil); err == nil {
		t.Fatal("store sink without a store must fail")
	}
	store := NewMemoryStore(0)
	a, err = Open(&SinkOptions{Store: true}, &out, store, nil)
	if err != nil {
		t.Fatal(err)
	}
	a.Record(Event{Time: time.Now(), Route: "r", Decision: "deny"})
	a.Close(context.Background())
	if got, _ := store.QueryAudit(context.Background(), Filter{}); len(got) != 1 {
		t.Fatalf("store got %d events", len(got))
	}
}

// TestScrubBearer: the word after "bearer" is redacted only when it is a credential.
func TestScrubBearer(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"requires a bearer token in the Authorization header", "requires a bearer token in the Authorization header"},
		{"bearer authentication failed.", "bearer authentication failed."},
		{"sent Bearer abc123def456, refused", "sent Bearer [redacted] refused"},
		{"Authorization: Bearer mF_9.B5f-4.1JqM", "Authorization: Bearer [redacted]"},
		{"bearer qwertyuiopasdfghjklzxcvbnm", "bearer [redacted]"},
	} {
		if got := scrub(tc.in); got != tc.want {
			t.Errorf("scrub(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
