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
//
// The queue grows with what is waiting, up to Options.Buffer events, rather than being
// allocated at its largest up front: 4,096 events of about 400 bytes each were 1.6 MB held
// (and scanned by every collection) by a gateway that audits a few events a second.
type Auditor struct {
	sinks   []Sink
	log     *slog.Logger
	dropped atomic.Uint64
	written atomic.Uint64
	failed  atomic.Uint64

	closeOnce sync.Once
	mu        sync.Mutex // guards queue and closed
	queue     []Event
	max       int
	closed    bool
	wake      chan struct{} // one pending signal: the queue has events or closed is set
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
	a := &Auditor{sinks: sinks, max: opts.Buffer, log: opts.Logger, wake: make(chan struct{}, 1),
		done: make(chan struct{}), journal: opts.Journal}
	go a.run()
	return a
}

// Record queues an event. When the buffer is full the event is dropped and counted; a
// warning is logged at most once per second.
func (a *Auditor) Record(e Event) {
	if a == nil {
		return
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		a.dropped.Add(1)
		return
	}
	if len(a.queue) >= a.max {
		a.mu.Unlock()
		n := a.dropped.Add(1)
		now := time.Now().UnixNano()
		if last := a.lastDrop.Load(); now-last > int64(time.Second) && a.lastDrop.CompareAndSwap(last, now) {
			a.log.Warn("audit buffer full: dropping events (sinks are slower than traffic)", "dropped_total", n, "route", e.Route)
		}
		return
	}
	a.queue = append(a.queue, e)
	a.mu.Unlock()
	a.signal()
}

// signal wakes run, unless a wake-up is already pending.
func (a *Auditor) signal() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Dropped is the number of events dropped because the buffer was full.
func (a *Auditor) Dropped() uint64 { return a.dropped.Load() }

// Written is the number of events every sink accepted.
func (a *Auditor) Written() uint64 { return a.written.Load() }

// batchMax is the most events handed to the sinks in one Write.
const batchMax = 256

func (a *Auditor) run() {
	defer close(a.done)
	var batch []Event // the queue run swapped out last; reused as the next queue
	for {
		a.mu.Lock()
		batch, a.queue = a.queue, batch[:0]
		closed := a.closed
		a.mu.Unlock()
		if len(batch) == 0 {
			if closed {
				return
			}
			<-a.wake
			continue
		}
		for b := batch; len(b) > 0; {
			n := min(len(b), batchMax)
			a.write(b[:n])
			b = b[n:]
		}
		clear(batch) // drop the events' strings now, not when the slot is reused
		if cap(batch) > 4*batchMax {
			batch = nil // after a burst, let the large queue go
		}
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
		a.mu.Unlock()
		a.signal()
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
