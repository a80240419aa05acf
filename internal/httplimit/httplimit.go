// Package httplimit bounds how slowly a client may send a request body.
//
// net/http bounds the request head (ReadHeaderTimeout) but a body only through
// ReadTimeout, which covers the whole exchange and cancels long-lived streams. Body gives
// each body a deadline of its own: a grace period plus the time the bytes already read
// would take at a minimum rate. A body sent one byte every few seconds is cut after the
// grace period; a large body at a decent rate is never cut. The deadline is cleared once
// the body has been read, so a response stream that follows is not affected.
package httplimit

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"
)

// Defaults.
const (
	DefaultTimeout = 10 * time.Second
	DefaultMinRate = 1024 // bytes per second, after the grace period
)

// BodyOptions bound request bodies. Zero fields mean the defaults; a negative Timeout
// disables the deadline.
type BodyOptions struct {
	// Timeout is the grace period: the time any body may take before the rate counts.
	Timeout time.Duration
	// MinRate is the lowest average rate, in bytes per second, a body must keep after
	// the grace period.
	MinRate int64
}

// ErrSlowBody is returned by a request body that did not arrive within its deadline.
var ErrSlowBody = errors.New("the request body arrived too slowly")

// TimeoutError is ErrSlowBody with the bounds that applied.
type TimeoutError struct {
	Read    int64
	Timeout time.Duration
	MinRate int64
}

func (e *TimeoutError) Error() string {
	return "the request body arrived too slowly: " + strconv.FormatInt(e.Read, 10) + " bytes read; a body must arrive within " +
		e.Timeout.String() + " plus 1 s per " + strconv.FormatInt(e.MinRate, 10) + " bytes"
}

// Is makes errors.Is(err, ErrSlowBody) true.
func (e *TimeoutError) Is(target error) bool { return target == ErrSlowBody }

// Body returns h with every request body bounded by o. Requests without a body pass
// untouched.
func Body(h http.Handler, o BodyOptions) http.Handler {
	if o.Timeout < 0 {
		return h
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MinRate <= 0 {
		o.MinRate = DefaultMinRate
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body == nil || r.Body == http.NoBody || r.ContentLength == 0 {
			h.ServeHTTP(w, r)
			return
		}
		rc := http.NewResponseController(w)
		start := time.Now()
		if rc.SetReadDeadline(start.Add(o.Timeout)) != nil {
			h.ServeHTTP(w, r) // a ResponseWriter without deadlines (another server mounts h)
			return
		}
		// The deadline stays after h returns if h left part of the body unread: net/http
		// then discards the rest under it, or closes the connection.
		r.Body = &body{ReadCloser: r.Body, rc: rc, start: start, o: o}
		h.ServeHTTP(w, r)
	})
}

type body struct {
	io.ReadCloser
	rc      *http.ResponseController
	start   time.Time
	o       BodyOptions
	n       int64
	cleared bool
}

func (b *body) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	switch {
	case err == nil:
		if n > 0 {
			allowed := b.o.Timeout + time.Duration(b.n*int64(time.Second)/b.o.MinRate)
			_ = b.rc.SetReadDeadline(b.start.Add(allowed))
		}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return n, &TimeoutError{Read: b.n, Timeout: b.o.Timeout, MinRate: b.o.MinRate}
	default:
		// EOF, or the body failed: nothing more is read under this deadline. net/http's
		// background read (which notices a client hang-up during a response stream)
		// starts now, and must not inherit it.
		b.clear()
	}
	return n, err
}

func (b *body) clear() {
	if !b.cleared {
		b.cleared = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
}
