package audit

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
)

// Store keeps audit events for queries. The SQL stores implement it; MemoryStore is the
// in-process one.
type Store interface {
	AppendAudit(ctx context.Context, e Event) error
	QueryAudit(ctx context.Context, f Filter) ([]Event, error)
}

// Filter selects events. Zero fields match everything.
type Filter struct {
	// User matches the subject or the email.
	User string
	// Tool matches the tool, prompt or resource.
	Tool string
	// Decision matches exactly (allow, deny, insufficient_scope, ...).
	Decision string
	Route    string
	// Since keeps events at or after this time.
	Since time.Time
	// Before keeps events strictly before this time: the cursor of the next (older) page
	// is the time of the oldest event shown.
	Before time.Time
	// Limit keeps the most recent events (0: 100; negative: all).
	Limit int
}

// Match reports whether e passes the filter (ignoring Limit).
func (f Filter) Match(e *Event) bool {
	if f.User != "" && e.User != f.User && !strings.EqualFold(e.Email, f.User) {
		return false
	}
	if f.Tool != "" && e.Tool != f.Tool && e.Prompt != f.Tool && e.Resource != f.Tool {
		return false
	}
	if f.Decision != "" && e.Decision != f.Decision {
		return false
	}
	if f.Route != "" && e.Route != f.Route {
		return false
	}
	if !f.Since.IsZero() && e.Time.Before(f.Since) {
		return false
	}
	if !f.Before.IsZero() && !e.Time.Before(f.Before) {
		return false
	}
	return true
}

// Apply filters events (in time order) and keeps the most recent Limit of them.
func (f Filter) Apply(events []Event) []Event {
	var out []Event
	for i := range events {
		if f.Match(&events[i]) {
			out = append(out, events[i])
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	limit := f.Limit
	if limit == 0 {
		limit = 100
	}
	if limit > 0 && len(out) > limit {
		out = out[len(out)-limit:]
	}
	return out
}

// MemoryStore is an in-memory Store holding at most max events (oldest dropped).
type MemoryStore struct {
	mu     sync.Mutex
	max    int
	events []Event
}

// NewMemoryStore returns a store keeping up to max events (0: 100,000).
func NewMemoryStore(max int) *MemoryStore {
	if max <= 0 {
		max = 100_000
	}
	return &MemoryStore{max: max}
}

// AppendAudit implements Store.
func (m *MemoryStore) AppendAudit(_ context.Context, e Event) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.events = append(m.events, e)
	if len(m.events) > m.max {
		m.events = append(m.events[:0], m.events[len(m.events)-m.max:]...)
	}
	return nil
}

// QueryAudit implements Store.
func (m *MemoryStore) QueryAudit(_ context.Context, f Filter) ([]Event, error) {
	m.mu.Lock()
	events := append([]Event(nil), m.events...)
	m.mu.Unlock()
	return f.Apply(events), nil
}

// ReadJSONLines reads events written by a JSONLines or File sink and filters them. Lines
// that are not events are skipped and counted.
func ReadJSONLines(r io.Reader, f Filter) (events []Event, skipped int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var e Event
		if json.Unmarshal(line, &e) != nil || e.Time.IsZero() {
			skipped++
			continue
		}
		if f.Match(&e) {
			events = append(events, e)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, skipped, err
	}
	nf := f
	nf.User, nf.Tool, nf.Decision, nf.Route, nf.Since, nf.Before = "", "", "", "", time.Time{}, time.Time{}
	return nf.Apply(events), skipped, nil
}

// QueryFiles reads an audit file and its rotated predecessors (path.N … path.1, path).
func QueryFiles(path string, keep int, f Filter) ([]Event, int, error) {
	var all []Event
	skipped := 0
	found := false
	lim := f
	lim.Limit = -1
	for i := keep; i >= 0; i-- {
		p := path
		if i > 0 {
			p = fmt.Sprintf("%s.%d", path, i)
		}
		fh, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, skipped, err
		}
		found = true
		evs, sk, err := ReadJSONLines(fh, lim)
		fh.Close()
		if err != nil {
			return nil, skipped, fmt.Errorf("reading %s: %w", p, err)
		}
		all = append(all, evs...)
		skipped += sk
	}
	if !found {
		return nil, 0, fmt.Errorf("no audit file at %s", path)
	}
	nf := f
	nf.User, nf.Tool, nf.Decision, nf.Route, nf.Since, nf.Before = "", "", "", "", time.Time{}, time.Time{}
	return nf.Apply(all), skipped, nil
}

var _ Store = (*MemoryStore)(nil)
