package audit

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

type memSink struct{ events []Event }

func (s *memSink) Write(_ context.Context, es []Event) error {
	s.events = append(s.events, es...)
	return nil
}
func (s *memSink) Close() error { return nil }

func TestJournalRecoversInterruptedCalls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.journal")
	j, got, err := OpenJournal(path, JournalOptions{})
	if err != nil || len(got) != 0 {
		t.Fatalf("fresh journal: %v %v", got, err)
	}
	ids := make([]uint64, 3)
	for i, tool := range []string{"transfer", "balance", "report"} {
		if ids[i], err = j.Begin(Event{Route: "bank", User: "alice", Method: "tools/call", Tool: tool, Decision: "allow"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.End(ids[1]); err != nil {
		t.Fatal(err)
	}
	// The process dies here: no Close. A new process opens the journal.
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("journal file mode: %v %v", st, err)
	}
	j2, got, err := OpenJournal(path, JournalOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Tool != "transfer" || got[1].Tool != "report" {
		t.Fatalf("interrupted = %+v, want transfer and report", got)
	}
	for _, e := range got {
		if e.Decision != "interrupted" || e.User != "alice" || e.Error == "" || e.JournalID == 0 {
			t.Errorf("interrupted event = %+v", e)
		}
	}
	// Dies again before the auditor wrote them: they are still there.
	if _, again, _ := OpenJournal(path, JournalOptions{}); len(again) != 2 {
		t.Fatalf("after a second crash: %d interrupted, want 2", len(again))
	}
	j3, got, _ := OpenJournal(path, JournalOptions{})
	sink := &memSink{}
	a := New(Options{Journal: j3}, sink)
	for _, e := range got {
		a.Record(e)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	j3.Close()
	j2.Close()
	if len(sink.events) != 2 {
		t.Fatalf("the auditor wrote %d events", len(sink.events))
	}
	if _, left, _ := OpenJournal(path, JournalOptions{}); len(left) != 0 {
		t.Fatalf("after the auditor wrote them: %d still open", len(left))
	}
}

func TestJournalCompacts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.journal")
	j, _, err := OpenJournal(path, JournalOptions{CompactAt: 4096, SyncEvery: -1})
	if err != nil {
		t.Fatal(err)
	}
	keep, _ := j.Begin(Event{Route: "r", Tool: "still-running"})
	for range 2000 {
		id, _ := j.Begin(Event{Route: "r", Tool: "quick"})
		_ = j.End(id)
	}
	st, _ := os.Stat(path)
	if st.Size() > 8192 {
		t.Fatalf("journal grew to %d bytes", st.Size())
	}
	j.Close()
	_, left, _ := OpenJournal(path, JournalOptions{})
	if len(left) != 1 || left[0].Tool != "still-running" || keep == 0 {
		t.Fatalf("after compaction: %+v", left)
	}
}

func BenchmarkJournalBeginEnd(b *testing.B) {
	j, _, err := OpenJournal(filepath.Join(b.TempDir(), "j"), JournalOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	e := Event{Time: time.Now(), Route: "weather", User: "alice", Method: "tools/call", Tool: "get_forecast", Decision: "allow"}
	b.ReportAllocs()
	for b.Loop() {
		id, _ := j.Begin(e)
		_ = j.End(id)
	}
}
