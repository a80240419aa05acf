package gateway

// The SSE relay: a low-memory path for long-lived, mostly idle SSE streams of HTTP/1.1
// clients.
//
// net/http keeps, for every open stream, the server connection goroutine and its
// background reader, 4 KiB read and write buffers on the client side, and the
// Transport's readLoop and writeLoop goroutines with their buffers on the upstream side:
// about 57 KB of RSS per idle stream. The relay replaces that, for a GET whose upstream
// answers 200 text/event-stream, with:
//
//   - the upstream leg (relaySource), one of:
//     connSource, for an http:// upstream: a connection of its own (dialed per stream, not
//     pooled) and a hand-written HTTP/1.1 exchange (net/http's Request.Write and
//     ReadResponse), with chunked decoding done here, byte by byte, without a buffered
//     reader; it waits for data with a MSG_PEEK probe through syscall.RawConn, and the
//     idle timeout is a read deadline;
//     bodySource, on an h2c route: the HTTP/2 response body from the route's transport, a
//     stream on its few shared connections (one file descriptor per relayed stream instead
//     of two). The request's context is detached from the handler's, which net/http
//     cancels when the handler returns, even after a hijack (detachedRoundTrip); until the
//     relay takes over it still follows it. The body is already de-framed (EOF is the
//     clean end). With no readiness probe, it waits in a blocking one-byte read into the
//     stream's state, then reads what the transport has buffered into a pooled buffer; a
//     timer sends the peeked byte alone if nothing else was buffered. Ending the stream
//     (client gone, shutdown, idle timer) cancels the request's context: net/http resets
//     the HTTP/2 stream. net/http's per-stream goroutine and state remain: about 16 KB
//     per idle stream against 7 KB with connSource;
//   - the client leg: the connection hijacked from net/http after the upstream answered;
//     the response head is written here, the body chunked, and the connection closed at
//     the end (Connection: close);
//   - one goroutine per stream that waits for the upstream without holding a buffer,
//     takes a pooled buffer only while there is data, and restarts itself on a fresh
//     (small) stack after every burst;
//   - client disconnects noticed at once: on Linux one process-wide epoll instance (and
//     one goroutine) watches every relayed client connection for a hang-up
//     (relay_linux.go); elsewhere one goroutine per stream blocks in a read on the client
//     connection (an SSE client sends nothing after its request: a read returns only at
//     EOF or on an error).
//
// With an interceptor's Rewriter, events are split here (the SSE line rules), each parsed
// with mcp's SSEReader and rewritten by rewriteEvent, the same step the proxy's rewriteSSE uses.
// The stream is reported (access log, observer) once, when it ends: finish hands a
// relayed request over to the relay instead of reporting it (relaySet.handOff). Shutdown
// waits for relayed streams (relaySet.wait) and closes them when the gateway is killed.
//
// Anything unusual (HTTP/2 or HTTP/1.0 clients, a non-hijackable ResponseWriter, a custom
// Transport, https upstreams, a request body, a non-200 or non-SSE answer, a
// Content-Length on the stream) stays on the normal net/http path.
// Options.DisableSSERelay turns the relay off altogether.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mcpgate/mcpgate/internal/gateway/ssewire"
	"github.com/mcpgate/mcpgate/internal/mcp"
)

// relaySet tracks a Server's relayed streams: http.Server does not track hijacked
// connections, so Shutdown asks this set instead.
type relaySet struct {
	pending sync.Map // *Event → *relayStream: set up by proxy, started when the handler returns
	live    atomic.Int64
	off     bool // Options.DisableSSERelay (tests also set it on a running Server)
	noPoll  bool // tests: watch clients with a goroutine each, as without epoll
}

// handOff is called by finish (accesslog.go) when the handler returns: when rec belongs
// to a relayed stream, the stream starts and finish returns at once; the stream reports
// (access log, observer) when it ends.
func (rs *relaySet) handOff(rec *Event) bool {
	v, ok := rs.pending.LoadAndDelete(rec)
	if !ok {
		return false
	}
	v.(*relayStream).start()
	return true
}

// wait returns when no relayed stream is open, or with ctx's error.
func (rs *relaySet) wait(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for rs.live.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// relayable reports whether a request may use the relay, before the upstream is asked.
func (rt *route) relayable(w http.ResponseWriter, r *http.Request, out *http.Request) bool {
	if rt.s.relays.off || rt.opts.Transport != nil {
		return false
	}
	if !rt.opts.H2C && !canWaitReadable { // an HTTP/2 body needs no readiness probe
		return false
	}
	if r.Method != http.MethodGet || r.ProtoMajor != 1 || r.ProtoMinor < 1 || out.Body != nil || r.ContentLength > 0 {
		return false
	}
	if rt.upstream.Scheme != "http" || r.Header.Get("Expect") != "" {
		return false
	}
	return hijacker(w) != nil
}

// hijacker finds the http.Hijacker under w, through wrappers that have Unwrap (as
// http.ResponseController does).
func hijacker(w http.ResponseWriter) http.Hijacker {
	for {
		switch t := w.(type) {
		case http.Hijacker:
			return t
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return nil
		}
	}
}

// relayRoundTrip sends out upstream: on a dedicated connection when the request may be
// relayed (or, on an h2c route, as a stream of the shared HTTP/2 connections whose context
// can outlive the handler), through the route's transport otherwise.
func (rt *route) relayRoundTrip(w http.ResponseWriter, r *http.Request, out *http.Request) (*http.Response, error) {
	if !rt.relayable(w, r, out) {
		return rt.transport.RoundTrip(out)
	}
	if rt.opts.H2C {
		return rt.detachedRoundTrip(r, out)
	}
	return rt.exchange(out)
}

// detachedRoundTrip sends out through the route's transport (HTTP/2 on an h2c route) with
// a context of its own: net/http cancels the handler's context when the handler returns,
// even after a hijack, and that would reset a stream the relay has taken over. Until the
// relay detaches it (relayBody.stop), out's context still cancels the upstream request:
// the client went away, the gateway was killed, the normal path ended.
func (rt *route) detachedRoundTrip(r, out *http.Request) (*http.Response, error) {
	ctx := out.Context()
	// The values of r's context (out's has no others), not out's context itself: the
	// transport keeps the upstream context for the stream's life, and out's would keep
	// proxy's cancelCtx with it.
	uctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	stop := context.AfterFunc(ctx, cancel)
	resp, err := rt.transport.RoundTrip(out.WithContext(uctx))
	if err != nil {
		stop()
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	resp.Body = &relayBody{ReadCloser: resp.Body, parent: ctx, cancel: cancel, stop: stop}
	return resp, nil
}

// relayBody is the body of a detachedRoundTrip's response.
type relayBody struct {
	io.ReadCloser
	parent   context.Context    // out's context, which cancels the request until detached
	cancel   context.CancelFunc // cancels the upstream request (resets the HTTP/2 stream)
	stop     func() bool        // detaches cancel from parent
	detached bool               // the relay took the body over
}

func (b *relayBody) Close() error {
	if b.detached {
		return nil
	}
	b.stop()
	b.cancel()
	return b.ReadCloser.Close()
}

// exchange does one HTTP/1.1 request/response on a new upstream connection. The
// response body reads from that connection; closing it closes the connection.
func (rt *route) exchange(out *http.Request) (*http.Response, error) {
	ctx := out.Context()
	u := out.URL
	port := u.Port()
	if port == "" {
		port = "80"
	}
	d := net.Dialer{Timeout: rt.opts.ConnectTimeout, KeepAlive: 30 * time.Second}
	c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(u.Hostname(), port))
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = c.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = c.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(rt.opts.ResponseTimeout))
	if err := out.Write(c); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(c, 4096)
	var resp *http.Response
	for {
		resp, err = http.ReadResponse(br, out)
		if err != nil {
			return fail(err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		_ = resp.Body.Close() // 1xx: informational, read the next response
	}
	_ = c.SetDeadline(time.Time{})
	resp.Body = &exchangeBody{ReadCloser: resp.Body, c: c, br: br, stop: stop}
	return resp, nil
}

// exchangeBody is the body of an exchange's response.
type exchangeBody struct {
	io.ReadCloser
	c        net.Conn
	br       *bufio.Reader
	stop     func() bool
	detached bool // the relay took the connection over
}

func (b *exchangeBody) Close() error {
	if b.detached {
		return nil
	}
	b.stop()
	return b.c.Close()
}

// relayStream is one relayed SSE stream.
type relayStream struct {
	rt      *route
	rec     *Event
	req     *http.Request // for finish: method, remote address, context values
	client  net.Conn
	src     relaySource
	chunked bool // the upstream's bytes are HTTP/1.1 chunks (dec decodes them)
	dec     ssewire.ChunkDecoder
	rewrite Rewriter
	ctx     context.Context // for rewrite; nil without one
	cancel  context.CancelFunc
	scan    ssewire.Scanner
	done    bool // the upstream ended the stream cleanly
	stop    bool // the stream must end (relay goroutine only)
	ended   bool // end ran (relay goroutine only)
	stopK   func() bool
	// hangupID is the stream's registration with the shared hang-up poller (0: none).
	hangupID uint64

	mu     sync.Mutex
	closed bool
	reason string
}

// relay takes over an SSE response from exchange or detachedRoundTrip: it hijacks the
// client connection, writes the response head and hands the stream to its own goroutines
// once the handler returns. It returns false, having changed nothing, when the normal
// path must serve.
func (rt *route) relay(w http.ResponseWriter, r *http.Request, rec *Event, resp *http.Response, rewrite Rewriter) bool {
	if resp.StatusCode != http.StatusOK {
		return false
	}
	hj := hijacker(w)
	if hj == nil {
		return false
	}
	var (
		src      relaySource
		chunked  bool
		leftover []byte
		client   net.Conn
		err      error
	)
	switch b := resp.Body.(type) {
	case *exchangeBody: // HTTP/1.1, on a connection of the stream's own
		chunked = len(resp.TransferEncoding) == 1 && resp.TransferEncoding[0] == "chunked"
		if !chunked && (resp.ContentLength != -1 || len(resp.TransferEncoding) != 0) {
			return false
		}
		raw, ok := b.c.(syscall.Conn)
		if !ok {
			return false
		}
		upRaw, rerr := raw.SyscallConn()
		if rerr != nil {
			return false
		}
		if !b.stop() { // the request was cancelled: the connection is closed
			return false
		}
		if client, _, err = hj.Hijack(); err != nil { // the normal path serves, with the request's cancellation re-armed
			c := b.c
			b.stop = context.AfterFunc(resp.Request.Context(), func() { _ = c.Close() })
			return false
		}
		b.detached = true
		// Bytes the upstream already sent after its headers.
		if n := b.br.Buffered(); n > 0 {
			p, _ := b.br.Peek(n)
			leftover = bytes.Clone(p)
		}
		cs := &connSource{c: b.c, raw: upRaw, idle: rt.opts.StreamIdleTimeout}
		if cs.idle > 0 {
			_ = cs.c.SetReadDeadline(time.Now().Add(cs.idle))
		}
		src = cs
	case *relayBody: // HTTP/2 (h2c): a stream on a shared connection
		if resp.ContentLength != -1 || len(resp.TransferEncoding) != 0 {
			return false
		}
		if !b.stop() { // the request was cancelled
			return false
		}
		if client, _, err = hj.Hijack(); err != nil {
			b.stop = context.AfterFunc(b.parent, b.cancel)
			return false
		}
		b.detached = true
		src = &bodySource{body: b.ReadCloser, cancel: b.cancel, idle: rt.opts.StreamIdleTimeout}
		// The HTTP/2 transport keeps resp for the stream's life (for trailers): drop what
		// it does not need, the response's header (proxy copied it) and, through
		// resp.Request, the upstream request with its header.
		resp.Header, resp.Request = nil, nil
	default:
		return false
	}
	// The hijacked bufio.ReadWriter is dropped: an SSE client sends nothing after its
	// request, and the head and body are written to the connection directly.

	st := &relayStream{
		rt: rt, rec: rec, client: client, src: src, chunked: chunked, rewrite: rewrite,
		// finish needs the method, remote address and context values. The request's
		// headers are not kept: they cost about 1 KB per stream and hold the caller's token.
		req: (&http.Request{Method: r.Method, URL: r.URL, Proto: r.Proto, ProtoMajor: r.ProtoMajor, ProtoMinor: r.ProtoMinor,
			Header: http.Header{}, Host: r.Host, RemoteAddr: r.RemoteAddr, RequestURI: r.RequestURI}).WithContext(context.WithoutCancel(r.Context())),
	}
	if bs, ok := src.(*bodySource); ok {
		bs.st = st
		if bs.idle > 0 {
			bs.idleT = time.AfterFunc(bs.idle, bs.idleOut)
		}
	}
	if rewrite != nil {
		st.ctx, st.cancel = context.WithCancel(st.req.Context())
	}
	rec.Status = resp.StatusCode

	h := w.Header()
	h.Del("Content-Length")
	if h.Get("X-Accel-Buffering") == "" {
		h.Set("X-Accel-Buffering", "no") // tell intermediaries (nginx) not to buffer the stream
	}
	if h.Get("Date") == "" {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	_ = h.Write(&head)
	head.WriteString("Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
	if _, err := client.Write(head.Bytes()); err != nil {
		st.setReason("client closed the stream")
		st.stop = true
	} else if len(leftover) > 0 {
		st.feed(leftover)
	}
	rt.s.relays.pending.Store(rec, st)
	return true
}

// start runs the stream's goroutines (called from the handler's finish).
func (st *relayStream) start() {
	st.rt.s.relays.live.Add(1)
	st.stopK = context.AfterFunc(st.rt.s.killCtx, func() { st.close("stream closed by gateway shutdown") })
	if st.rt.s.relays.noPoll || !watchHangup(st) {
		go st.watchClient()
	}
	go st.run()
}

// close ends the stream from outside the relay goroutine (client gone, shutdown): it ends
// the upstream side and closes the client connection, which wakes the relay goroutine,
// which then reports. The first reason wins; "" keeps the stream's own outcome. It does
// not block (the hang-up poller calls it).
func (st *relayStream) close(reason string) {
	st.mu.Lock()
	if st.closed {
		st.mu.Unlock()
		return
	}
	st.closed, st.reason = true, reason
	st.mu.Unlock()
	st.src.abort()
	_ = st.client.Close()
}

// watchClient notices a client disconnect: an SSE client sends nothing after its
// request, so a read returns only at EOF or on an error. Anything it does send is
// discarded.
func (st *relayStream) watchClient() {
	var b [64]byte
	for {
		if _, err := st.client.Read(b[:]); err != nil {
			st.close("client closed the stream")
			return
		}
	}
}

// run waits, without a buffer, until the upstream has something, relays one read, and
// continues on a fresh goroutine (so that an idle stream sits on a small stack).
func (st *relayStream) run() {
	defer func() {
		if p := recover(); p != nil {
			st.rt.s.log.Error("panic in SSE relay", "route", st.rt.opts.Name, "panic", fmt.Sprint(p))
			if !st.ended { // a panic in a rewrite (not in the observer, which ran in end)
				st.setReason("internal error in the SSE relay")
				st.end(nil)
			}
		}
	}()
	if st.stop {
		st.end(nil)
		return
	}
	err := st.src.next(st)
	switch {
	case st.stop:
		st.end(nil)
	case err != nil:
		if errors.Is(err, io.EOF) && st.chunked {
			err = io.ErrUnexpectedEOF // the last chunk never came
		}
		if errors.Is(err, io.EOF) && st.rewrite != nil && !st.chunked && st.scan.Partial() {
			st.done = true
			st.feed(nil) // the trailing incomplete event of a close-delimited stream
		}
		st.end(err)
	default:
		go st.run()
	}
}

// relaySource is a relayed stream's upstream side.
type relaySource interface {
	// next waits, holding no buffer, until the upstream has bytes or has ended, then
	// passes what one read returns to st.feed. It returns the read's error: io.EOF at a
	// clean end, os.ErrDeadlineExceeded after limits.streamIdleTimeout.
	next(st *relayStream) error
	// abort ends the upstream side from any goroutine, without blocking: a waiting next
	// returns.
	abort()
	// release frees the upstream side once the stream has ended (relay goroutine).
	release()
}

// connSource is an HTTP/1.1 upstream on a connection of the stream's own (exchange). It
// waits with a MSG_PEEK probe through syscall.RawConn; the idle timeout is a read
// deadline, and chunked decoding is done by feed.
type connSource struct {
	c    net.Conn
	raw  syscall.RawConn
	idle time.Duration
}

func (s *connSource) next(st *relayStream) error {
	if err := waitReadable(s.raw); err != nil {
		return err
	}
	bp := streamBufs.Get().(*[]byte)
	n, err := s.c.Read(*bp)
	if n > 0 {
		if s.idle > 0 {
			_ = s.c.SetReadDeadline(time.Now().Add(s.idle))
		}
		st.feed((*bp)[:n])
	}
	streamBufs.Put(bp)
	return err
}

func (s *connSource) abort()   { _ = s.c.Close() }
func (s *connSource) release() { _ = s.c.Close() }

// bodySource is an HTTP/2 upstream (h2c): the response body of a stream on one of the
// transport's shared connections, already de-framed (io.EOF is the clean end). An
// HTTP/2 body has no readiness probe, so next waits in a blocking read of one byte into
// peek (part of the stream, not a pooled buffer), then takes a pooled buffer for one more
// read, which returns at once what the transport has buffered.
//
// That second read blocks when the peeked byte was all there was (a one-byte DATA frame,
// or one byte left over after a read that filled the buffer). The byte must not wait for
// the upstream's next bytes (it may end an event), so a timer feeds it alone after
// relayPeekDelay (flushPeek); mu makes the timer and next take turns at feeding.
type bodySource struct {
	st     *relayStream
	body   io.ReadCloser
	cancel context.CancelFunc // cancels the upstream request: resets the HTTP/2 stream
	idle   time.Duration
	idleT  *time.Timer // limits.streamIdleTimeout; nil without one
	idled  atomic.Bool // idleT fired
	peek   [1]byte

	mu   sync.Mutex
	held uint8 // peekNone, peekHeld (peek waits for the second read), peekSent (flushPeek fed it)
}

const (
	peekNone = iota
	peekHeld
	peekSent
)

// relayPeekDelay is how long a peeked byte may wait for the read that follows it.
const relayPeekDelay = 2 * time.Millisecond

func (s *bodySource) next(st *relayStream) error {
	n, err := s.body.Read(s.peek[:])
	if n == 0 {
		return s.readErr(err)
	}
	s.touch()
	if err != nil { // the last byte
		st.feed(s.peek[:1])
		return s.readErr(err)
	}
	bp := streamBufs.Get().(*[]byte)
	buf := *bp
	buf[0] = s.peek[0]
	s.mu.Lock()
	s.held = peekHeld
	s.mu.Unlock()
	pt := time.AfterFunc(relayPeekDelay, s.flushPeek) // per burst: an idle stream keeps no timer
	m, err := s.body.Read(buf[1:])
	pt.Stop()
	if m > 0 {
		s.touch()
	}
	s.feedRead(st, buf[:1+m])
	streamBufs.Put(bp)
	return s.readErr(err)
}

// feedRead feeds the peeked byte and what the read after it returned, less the byte if
// flushPeek fed it already.
func (s *bodySource) feedRead(st *relayStream, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held == peekSent {
		b = b[1:]
	}
	s.held = peekNone
	if len(b) > 0 {
		st.feed(b)
	}
}

// flushPeek (a timer) feeds a peeked byte that next still holds while its second read
// waits. Meanwhile next touches nothing that feed uses.
func (s *bodySource) flushPeek() {
	s.mu.Lock()
	if s.held != peekHeld {
		s.mu.Unlock()
		return
	}
	s.held = peekSent
	stop := s.feedPeek()
	s.mu.Unlock()
	if stop { // wake next's read: the stream ends
		s.abort()
	}
}

func (s *bodySource) feedPeek() (stop bool) {
	st := s.st
	defer func() {
		if p := recover(); p != nil { // a panic in a rewrite: as in run
			st.rt.s.log.Error("panic in SSE relay", "route", st.rt.opts.Name, "panic", fmt.Sprint(p))
			st.setReason("internal error in the SSE relay")
			st.stop, stop = true, true
		}
	}()
	st.feed(s.peek[:1])
	return st.stop
}

func (s *bodySource) touch() {
	if s.idleT != nil {
		s.idleT.Reset(s.idle)
	}
}

// idleOut (idleT) ends a stream on which nothing arrived for limits.streamIdleTimeout.
func (s *bodySource) idleOut() {
	s.idled.Store(true)
	s.abort()
}

func (s *bodySource) readErr(err error) error {
	if err != nil && s.idled.Load() {
		return os.ErrDeadlineExceeded
	}
	return err
}

func (s *bodySource) abort() { s.cancel() }

func (s *bodySource) release() {
	if s.idleT != nil {
		s.idleT.Stop()
	}
	s.cancel() // first: Close then returns without waiting for the stream's writer
	_ = s.body.Close()
}

// feed decodes upstream bytes, rewrites events, and writes them to the client as one
// chunk. It sets st.stop when the stream must end (the upstream finished, a rewrite
// failed, writing failed).
func (st *relayStream) feed(in []byte) {
	op := relayOutBufs.Get().(*[]byte)
	out := (*op)[:ssewire.ChunkHeadRoom]
	var err error
	if st.rewrite == nil {
		if st.chunked {
			out, st.done, err = st.dec.Decode(in, out)
		} else {
			out = append(out, in...)
		}
	} else {
		pp := relayOutBufs.Get().(*[]byte)
		payload := (*pp)[:0]
		if st.chunked {
			payload, st.done, err = st.dec.Decode(in, payload)
		} else {
			payload = append(payload, in...)
		}
		if err == nil {
			var failed bool
			out, failed = st.rewriteEvents(out, payload, st.done)
			st.stop = st.stop || failed
		}
		putOutBuf(pp, payload)
	}
	if err != nil {
		st.rec.Error = "upstream stream ended: " + err.Error()
		st.stop = true
	}
	if len(out) > ssewire.ChunkHeadRoom {
		out = ssewire.FrameChunk(out)
		if _, werr := st.client.Write(out); werr != nil {
			st.setReason("client closed the stream")
			st.stop = true
		}
	}
	putOutBuf(op, out)
	if st.done {
		st.stop = true
	}
}

func putOutBuf(p *[]byte, b []byte) {
	if cap(b) <= 64<<10 {
		*p = b[:0]
		relayOutBufs.Put(p)
	}
}

func (st *relayStream) setReason(r string) {
	st.mu.Lock()
	if st.reason == "" {
		st.reason = r
	}
	st.mu.Unlock()
}

// end reports the stream (once, on the relay goroutine): it closes both sides,
// sends the final chunk after a clean end, and runs finish (access log and observer).
func (st *relayStream) end(err error) {
	st.ended = true
	st.mu.Lock()
	wasClosed, reason := st.closed, st.reason
	st.closed = true
	st.mu.Unlock()
	rec := st.rec
	switch {
	case reason != "":
		rec.Error = reason
	case rec.Error != "":
	case errors.Is(err, os.ErrDeadlineExceeded):
		rec.Error = "stream idle timeout (limits.streamIdleTimeout)"
	case err != nil && !errors.Is(err, io.EOF):
		rec.Error = "upstream stream ended: " + err.Error()
	}
	if !wasClosed && reason == "" {
		// The upstream ended (cleanly or not), a rewrite failed or the stream was idle
		// too long: end the response properly, as net/http does when a handler returns.
		_, _ = st.client.Write([]byte("0\r\n\r\n"))
	}
	st.src.release()
	_ = st.client.Close()
	if st.cancel != nil {
		st.cancel()
	}
	st.stopK()
	forgetHangup(st)
	st.rt.s.relays.live.Add(-1)
	st.rt.finish(st.req, rec)
}

var relayOutBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// rewriteEvents splits payload into SSE events (with the same line rules as mcp's
// SSEReader: LF, CR or CRLF), parses each complete one with mcp.SSEReader and applies
// the rewrite with rewriteEvent, as the normal path does; an incomplete event waits
// for more bytes. At the end of the stream the trailing incomplete event is processed
// too. It returns true when the stream must end (rewrite failed, event too large).
func (st *relayStream) rewriteEvents(out, payload []byte, eof bool) ([]byte, bool) {
	var evs [][]byte
	var err error
	evs, err = st.scan.Feed(payload, evs)
	if err != nil {
		st.rec.Error = "upstream stream: " + err.Error()
		return out, true
	}
	if eof && st.scan.Partial() {
		evs = append(evs, st.scan.Take())
	}
	for _, raw := range evs {
		br := relayReaders.Get().(*bufio.Reader)
		br.Reset(bytes.NewReader(raw))
		ev, rerr := mcp.NewSSEReader(br, 0).Next()
		br.Reset(nil)
		relayReaders.Put(br)
		if rerr != nil && !errors.Is(rerr, io.EOF) {
			continue
		}
		if len(ev.Lines) == 0 {
			continue
		}
		keep, ok := st.rt.rewriteEvent(st.ctx, st.rec, &ev, st.rewrite)
		if !ok {
			return out, true
		}
		if !keep {
			continue
		}
		out = ev.AppendTo(out)
	}
	return out, false
}

var relayReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4096) }}
