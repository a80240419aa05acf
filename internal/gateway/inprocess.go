package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/mcpgate/mcpgate/internal/authn"
)

// inProcessUpstream is the upstream URL of a route served by RouteOptions.Handler: the
// .invalid top-level domain (RFC 2606) never resolves, so nothing can reach the network.
const inProcessUpstream = "http://in-process.invalid/"

// Caller is who a request served by RouteOptions.Handler comes from: the verified
// principal (nil when anonymous) and the client's request as the gateway received it
// (its Authorization header is the caller's token, for providers that exchange it).
type Caller struct {
	Principal *authn.Principal
	Request   *http.Request

	upstream atomic.Pointer[string]
	// input: the gateway's input requests for this call (requeststate.go); nil outside
	// the gateway.
	input func(in *URLInput) (key, state string, ok bool)
	// inputAction is the user's answer to the gateway's input request this call resumes.
	inputAction string
	// await holds an accepted retry (requeststate.go); nil outside the gateway.
	await func(ctx context.Context, err error, try func() error) error
}

// AwaitInput holds a retry whose user accepted the gateway's input request while err (a
// CredentialError) still asks them to act — the client retries as soon as the browser
// opens: try runs again every 2 s until it succeeds or fails otherwise, for up to the
// gateway's InputWait or until ctx ends, and its last error is returned. For any other
// call or error it returns err at once.
func (c *Caller) AwaitInput(ctx context.Context, err error, try func() error) error {
	if c == nil || c.await == nil || err == nil {
		return err
	}
	return c.await(ctx, err, try)
}

// InputRequired prepares a 2026-07-28 input-required result asking the user of this call
// to act, as the gateway answers on its own routes: it returns the key of the URL
// elicitation and the gateway's sealed requestState (bound to this user, route, method,
// target and arguments), when the call allows one (a tools/call, prompts/get or
// resources/read of a client that declares URL elicitation and did not just decline);
// false otherwise. The retry comes back through the gateway, which checks the state and
// strips it: the handler sees the call as first sent, with InputAction set.
func (c *Caller) InputRequired(in *URLInput) (key, state string, ok bool) {
	if c == nil || c.input == nil || in == nil {
		return "", "", false
	}
	return c.input(in)
}

// InputAction is the user's answer ("accept", "decline", "cancel") to the gateway's input
// request that this call retries; "" when it retries none. After "accept" the user may
// still be finishing in the browser: a handler can wait a little for the credential.
func (c *Caller) InputAction() string {
	if c == nil {
		return ""
	}
	return c.inputAction
}

// SetUpstream names the server behind the handler that answers this request (an
// aggregating route's upstream); the gateway records it in the Event (audit).
func (c *Caller) SetUpstream(name string) { c.upstream.Store(&name) }

// Upstream returns what SetUpstream stored ("" when nothing).
func (c *Caller) Upstream() string {
	if p := c.upstream.Load(); p != nil {
		return *p
	}
	return ""
}

type callerKey struct{}

// CallerFromContext returns the caller of a request served by RouteOptions.Handler.
func CallerFromContext(ctx context.Context) (*Caller, bool) {
	c, ok := ctx.Value(callerKey{}).(*Caller)
	return c, ok
}

// handlerTransport serves upstream requests with an http.Handler in this process. The
// response body is a pipe: every Write reaches the gateway's reader as it happens, so
// SSE events stream exactly as from a network upstream.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	in := req.Clone(req.Context())
	in.RequestURI = req.URL.RequestURI()
	in.RemoteAddr = "in-process"
	if in.Body == nil {
		in.Body = http.NoBody
	}
	pr, pw := io.Pipe()
	w := &pipeResponse{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	go func() {
		defer func() {
			if v := recover(); v != nil {
				w.fail(fmt.Errorf("in-process upstream panicked: %v", v))
				return
			}
			w.WriteHeader(http.StatusOK) // a handler that wrote nothing answered 200
			pw.Close()
		}()
		t.h.ServeHTTP(w, in)
	}()
	select {
	case <-w.ready:
	case <-req.Context().Done():
		pr.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
	if w.err != nil {
		return nil, w.err
	}
	return &http.Response{
		Status: fmt.Sprintf("%d %s", w.status, http.StatusText(w.status)), StatusCode: w.status,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: w.sent, Body: pr, ContentLength: -1, Request: req,
	}, nil
}

// pipeResponse is the http.ResponseWriter of an in-process upstream.
type pipeResponse struct {
	header http.Header
	pw     *io.PipeWriter
	once   sync.Once
	ready  chan struct{}
	status int
	sent   http.Header
	err    error
}

func (w *pipeResponse) Header() http.Header { return w.header }

func (w *pipeResponse) WriteHeader(code int) {
	w.once.Do(func() {
		w.status, w.sent = code, w.header.Clone()
		close(w.ready)
	})
}

func (w *pipeResponse) fail(err error) {
	w.once.Do(func() {
		w.err = err
		close(w.ready)
	})
	w.pw.CloseWithError(err)
}

func (w *pipeResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pw.Write(p)
}

// Flush is a no-op: a pipe write returns only once the reader took the bytes.
func (w *pipeResponse) Flush() {}
