package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// Journal makes the audit trail survive a crash: the start of each tool call is appended
// to a file before the call is sent upstream, and its end once the call's event has been
// written by every sink. A process killed in between (SIGKILL, OOM, power cut once the
// page cache is lost) leaves starts without ends; the next start of mcpgate records each
// of them as an "interrupted" event, so a call that may have reached an upstream is never
// missing from the trail.
//
// Each line is one write system call on a file opened for appending: once write returns,
// the line survives the process being killed (it is in the kernel's page cache). Against a
// machine crash, Sync (called every SyncEvery) bounds what can be lost. The file stays
// small: it is rewritten with only the open calls when it grows past CompactAt.
type Journal struct {
	mu        sync.Mutex
	f         *os.File
	path      string
	open      map[uint64][]byte // id → its begin line, for compaction
	next      uint64
	size      int64
	compactAt int64
	lastSync  time.Time
	syncEvery time.Duration
}

// JournalOptions tune a Journal.
type JournalOptions struct {
	// CompactAt rewrites the file when it grows past this size (default 4 MiB).
	CompactAt int64
	// SyncEvery bounds how often the file is fsynced (default 1s; negative: never).
	SyncEvery time.Duration
}

type journalLine struct {
	Begin uint64   `json:"b,omitempty"`
	Event *Event   `json:"e,omitempty"`
	End   []uint64 `json:"x,omitempty"`
}

// OpenJournal opens (or creates, 0600) the journal at path and returns the calls that a
// previous process started and never finished, as events with Decision "interrupted".
// They stay open in the journal, with their JournalID, until the auditor has written
// them: a crash before that finds them again.
func OpenJournal(path string, o JournalOptions) (*Journal, []Event, error) {
	if o.CompactAt <= 0 {
		o.CompactAt = 4 << 20
	}
	if o.SyncEvery == 0 {
		o.SyncEvery = time.Second
	}
	interrupted, err := readJournal(path)
	if err != nil {
		return nil, nil, err
	}
	j := &Journal{path: path, open: map[uint64][]byte{}, compactAt: o.CompactAt, syncEvery: o.SyncEvery, next: uint64(time.Now().UnixNano())}
	for i := range interrupted {
		e := &interrupted[i]
		j.next++
		e.JournalID = j.next
		b, err := json.Marshal(journalLine{Begin: e.JournalID, Event: e})
		if err != nil {
			return nil, nil, err
		}
		j.open[e.JournalID] = append(b, '\n')
	}
	if err := j.rewrite(); err != nil {
		return nil, nil, err
	}
	return j, interrupted, nil
}

// readJournal returns the events begun and never ended in the file at path.
func readJournal(path string) ([]Event, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("audit journal: %w", err)
	}
	defer f.Close()
	begun := map[uint64]Event{}
	var order []uint64
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var l journalLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue // a line cut short by the crash
		}
		if l.Begin != 0 && l.Event != nil {
			begun[l.Begin] = *l.Event
			order = append(order, l.Begin)
		}
		for _, id := range l.End {
			delete(begun, id)
		}
	}
	var out []Event
	for _, id := range order {
		e, ok := begun[id]
		if !ok {
			continue
		}
		delete(begun, id)
		e.Decision = "interrupted"
		e.Error = "mcpgate stopped (crash, kill or power loss) while this call was in flight; whether the upstream completed it is unknown"
		e.Status, e.UpstreamStatus = 0, 0
		out = append(out, e)
	}
	return out, sc.Err()
}

// rewrite replaces the file with the begin lines of the calls still open.
func (j *Journal) rewrite() error {
	tmp := j.path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audit journal: %w", err)
	}
	var size int64
	for _, l := range j.open {
		n, err := f.Write(l)
		if err != nil {
			f.Close()
			return fmt.Errorf("audit journal: %w", err)
		}
		size += int64(n)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("audit journal: %w", err)
	}
	f.Close()
	if err := os.Rename(tmp, j.path); err != nil {
		return fmt.Errorf("audit journal: %w", err)
	}
	nf, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit journal: %w", err)
	}
	if j.f != nil {
		j.f.Close()
	}
	j.f, j.size = nf, size
	return nil
}

// Begin records that the call e describes is about to be sent upstream and returns its
// id for End. A failed write is returned; the call goes on (the trail then misses it only
// if the process dies before the call's event is written).
func (j *Journal) Begin(e Event) (uint64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.next++
	id := j.next
	b, err := json.Marshal(journalLine{Begin: id, Event: &e})
	if err != nil {
		return 0, err
	}
	b = append(b, '\n')
	if err := j.append(b); err != nil {
		return 0, err
	}
	j.open[id] = b
	return id, nil
}

// End records that the events with these ids were written by every sink.
func (j *Journal) End(ids ...uint64) error {
	if len(ids) == 0 {
		return nil
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	b := append([]byte(`{"x":[`), strconv.FormatUint(ids[0], 10)...)
	for _, id := range ids[1:] {
		b = strconv.AppendUint(append(b, ','), id, 10)
	}
	b = append(b, "]}\n"...)
	for _, id := range ids {
		delete(j.open, id)
	}
	if j.size+int64(len(b)) > j.compactAt {
		return j.rewrite()
	}
	return j.append(b)
}

func (j *Journal) append(b []byte) error {
	if j.f == nil {
		return errors.New("audit journal closed")
	}
	n, err := j.f.Write(b)
	j.size += int64(n)
	if err != nil {
		return fmt.Errorf("audit journal: %w", err)
	}
	if j.syncEvery > 0 && time.Since(j.lastSync) >= j.syncEvery {
		j.lastSync = time.Now()
		_ = j.f.Sync()
	}
	return nil
}

// Close closes the file. Calls still open stay in it, for the next start to find.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}
