package client

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html"
	"html/template"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/mcpgate/mcpgate/internal/ui"
	"time"
)

// callback is the loopback redirect listener (RFC 8252 §7.3) on 127.0.0.1.
type callback struct {
	ln    net.Listener
	srv   *http.Server
	mu    sync.Mutex
	state string
	// issuer is the authorization server's issuer; requireIss is set when its metadata
	// advertises authorization_response_iss_parameter_supported (RFC 9207).
	issuer     string
	requireIss bool
	result     chan callbackResult
}

type callbackResult struct {
	code string
	err  error
}

const callbackPath = "/callback"

func listenCallback(port int) (*callback, error) {
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return nil, fmt.Errorf("listening for the sign-in redirect on 127.0.0.1:%d: %w (pick another --redirect-port)", port, err)
	}
	cb := &callback{ln: ln, result: make(chan callbackResult, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc(callbackPath, cb.handle)
	cb.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go cb.srv.Serve(ln)
	return cb, nil
}

func (cb *callback) RedirectURI() string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", cb.ln.Addr().(*net.TCPAddr).Port, callbackPath)
}

// Expect arms the listener for one redirect carrying state, from issuer. When the redirect
// carries iss (RFC 9207), it must equal issuer; when requireIss is set it must be there.
func (cb *callback) Expect(state, issuer string, requireIss bool) {
	cb.mu.Lock()
	cb.state, cb.issuer, cb.requireIss = state, issuer, requireIss
	cb.mu.Unlock()
}

// IssuerMismatchError is a sign-in redirect whose iss (RFC 9207) is not the issuer the
// request was sent to, or that lacks an iss the server promised: the response may come from
// another authorization server (a mix-up attack), so its code is not used.
type IssuerMismatchError struct{ Got, Want string }

func (e *IssuerMismatchError) Error() string {
	if e.Got == "" {
		return fmt.Sprintf("the sign-in response has no iss although %s advertises authorization_response_iss_parameter_supported (RFC 9207); refusing it", e.Want)
	}
	return fmt.Sprintf("the sign-in response came from issuer %q, not %q, the authorization server the request was sent to (RFC 9207); refusing it", e.Got, e.Want)
}

func (cb *callback) handle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Cache-Control", "no-store")
	q := r.URL.Query()
	cb.mu.Lock()
	want := cb.state
	issuer, requireIss := cb.issuer, cb.requireIss
	ok := want != "" && subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(want)) == 1
	if ok {
		cb.state = "" // single use
	}
	cb.mu.Unlock()
	if !ok {
		// A stray or replayed redirect: ignore it and keep waiting for the real one.
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, page("Sign-in link not recognised", "This sign-in response does not match the sign-in in progress (missing, used or wrong state). Start the sign-in again from mcpgate."))
		return
	}
	if got, present := q.Get("iss"), q.Has("iss"); (present || requireIss) && got != issuer {
		err := &IssuerMismatchError{Got: got, Want: issuer}
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, page("Sign-in refused", err.Error()))
		cb.result <- callbackResult{err: err}
		return
	}
	if e := q.Get("error"); e != "" {
		msg := e
		if d := q.Get("error_description"); d != "" {
			msg += ": " + d
		}
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, page("Sign-in failed", msg))
		cb.result <- callbackResult{err: fmt.Errorf("the authorization server refused the sign-in: %s", msg)}
		return
	}
	code := q.Get("code")
	if code == "" {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprint(w, page("Sign-in failed", "The redirect carried no authorization code."))
		cb.result <- callbackResult{err: errors.New("the authorization redirect carried no code")}
		return
	}
	fmt.Fprint(w, page("Signed in", "mcpgate has your sign-in. You can close this tab."))
	cb.result <- callbackResult{code: code}
}

// page renders the loopback answer in the shared design (internal/ui), stylesheet inlined:
// the browser is talking to the CLI, not to the gateway.
func page(title, msg string) string {
	p := ui.Page{Title: title, Body: template.HTML(`<p class="lead">` + html.EscapeString(msg) + `</p>`), Footer: "mcpgate command-line sign-in"}
	if strings.HasPrefix(title, "Signed in") {
		p.Notice = "Sign-in complete."
	} else {
		p.Error = title + "."
	}
	var b strings.Builder
	ui.Render(&b, p)
	return b.String()
}

// Wait returns the authorization code, or the error of the redirect.
func (cb *callback) Wait(ctx context.Context) (string, error) {
	select {
	case r := <-cb.result:
		return r.code, r.err
	case <-ctx.Done():
		return "", fmt.Errorf("waiting for the browser sign-in: %w", ctx.Err())
	}
}

func (cb *callback) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	cb.srv.Shutdown(ctx)
}
