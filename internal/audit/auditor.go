package audit

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Auditor delivers events to sinks from one background goroutine. Record never blocks.
type Auditor struct {
	sinks   []Sink
	ch      chan Event
	log     *slog.Logger
	dropped atomic.Uint64
	written atomic.Uint64
	failed  atomic.Uint64

	closeOnce sync.Once
	mu        sync.RWMutex // held for reading while sending, for writing to close ch
	closed    bool
	done      chan struct{}
	lastDrop  atomic.Int64 // unix nanos of the last drop warning
	journal   *Journal
}

// Options configure an Auditor.
type Options struct {
	// Buffer is the number of events held while sinks catch up (default 4096).
	Buffer int
	// Logger receives drop and sink-failure warnings (nil: discard).
	Logger *slog.Logger
	// Journal is told when journalled events have been written by every sink (nil: none).
	Journal *Journal
}

// New starts an auditor writing to sinks.
func New(opts Options, sinks ...Sink) *Auditor {
	if opts.Buffer <= 0 {
		opts.Buffer = 4096
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a := &Auditor{sinks: sinks, ch: make(chan Event, opts.Buffer), log: opts.Logger, done: make(chan struct{}), journal: opts.Journal}
	go a.run()
	return a
}

// Record queues an event. When the buffer is full the event is dropped and counted; a
// warning is logged at most once per second.
func (a *Auditor) Record(e Event) {
	if a == nil {
		return
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if a.closed {
		a.dropped.Add(1)
		return
	}
	select {
	case a.ch <- e:
	default:
		n := a.dropped.Add(1)
		now := time.Now().UnixNano()
		if last := a.lastDrop.Load(); now-last > int64(time.Second) && a.lastDrop.CompareAndSwap(last, now) {
			a.log.Warn("audit buffer full: dropping events (sinks are slower than traffic)", "dropped_total", n, "route", e.Route)
		}
	}
}

// Dropped is the number of events dropped because the buffer was full.
func (a *Auditor) Dropped() uint64 { return a.dropped.Load() }

// Written is the number of events every sink accepted.
func (a *Auditor) Written() uint64 { return a.written.Load() }

func (a *Auditor) run() {
	defer close(a.done)
	batch := make([]Event, 0, 256)
	for e := range a.ch {
		batch = append(batch[:0], e)
		// take whatever else is already queued
	more:
		for len(batch) < cap(batch) {
			select {
			case e, ok := <-a.ch:
				if !ok {
					break more
				}
				batch = append(batch, e)
			default:
				break more
			}
		}
		a.write(batch)
	}
}

func (a *Auditor) write(batch []Event) {
	ok := true
	for _, s := range a.sinks {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.Write(ctx, batch); err != nil {
			ok = false
			a.failed.Add(uint64(len(batch)))
			a.log.Error("audit sink failed", "sink", sinkName(s), "events", len(batch), "err", err)
		}
		cancel()
	}
	if !ok {
		return // the journal keeps their starts: the next start records them as interrupted
	}
	a.written.Add(uint64(len(batch)))
	if a.journal != nil {
		var ids []uint64
		for _, e := range batch {
			if e.JournalID != 0 {
				ids = append(ids, e.JournalID)
			}
		}
		if err := a.journal.End(ids...); err != nil {
			a.log.Error("audit journal failed", "err", err)
		}
	}
}

func sinkName(s Sink) string {
	switch s.(type) {
	case *JSONLines:
		return "stdout"
	case *File:
		return "file"
	case StoreSink:
		return "store"
	}
	return "custom"
}

// Close stops accepting events, writes those queued (until ctx ends) and closes the sinks.
// Events recorded after Close are dropped and counted.
func (a *Auditor) Close(ctx context.Context) error {
	var err error
	a.closeOnce.Do(func() {
		a.mu.Lock()
		a.closed = true
		close(a.ch)
		a.mu.Unlock()
		select {
		case <-a.done:
		case <-ctx.Done():
			err = ctx.Err()
		}
		var errs []error
		for _, s := range a.sinks {
			errs = append(errs, s.Close())
		}
		if e := errors.Join(errs...); e != nil && err == nil {
			err = e
		}
		if d := a.dropped.Load(); d > 0 {
			a.log.Warn("audit events were dropped", "dropped_total", d)
		}
	})
	return err
}
