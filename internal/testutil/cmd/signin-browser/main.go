// Command signin-browser is a stand-in for a web browser in interop tests: clients that
// sign in by opening the system browser (xdg-open, $BROWSER) get this program instead. It
// takes the authorization URL as its only argument and plays a user with testutil.Person:
// it signs in on mcpgate's login page, approves the consent page and delivers the final
// redirect to the client's loopback callback.
//
// Tests build it into a temporary folder as "xdg-open" (put first on PATH) and also point
// $BROWSER at it. It reads:
//
//	MCPGATE_SIGNIN_USERNAME, MCPGATE_SIGNIN_PASSWORD  the demo user to sign in as
//	MCPGATE_SIGNIN_LOG                                 optional file; one JSON line per run
//	                                                   ({url, seen, redirect, error}) is appended
//
// It only ever visits loopback hosts (127.0.0.1, ::1, localhost) and refuses anything else.
// The password is never written to the log.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"time"

	loopbackhost "github.com/mcpgate/mcpgate/internal/loopback"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// record is one line of MCPGATE_SIGNIN_LOG.
type record struct {
	URL      string   `json:"url"`
	Seen     []string `json:"seen"`
	Redirect string   `json:"redirect,omitempty"`
	Error    string   `json:"error,omitempty"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: signin-browser URL (with MCPGATE_SIGNIN_USERNAME and MCPGATE_SIGNIN_PASSWORD set)")
		os.Exit(2)
	}
	rec := record{URL: os.Args[1]}
	err := run(&rec)
	if err != nil {
		rec.Error = err.Error()
		fmt.Fprintln(os.Stderr, "signin-browser:", err)
	}
	if path := os.Getenv("MCPGATE_SIGNIN_LOG"); path != "" {
		if f, ferr := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600); ferr == nil {
			json.NewEncoder(f).Encode(rec)
			f.Close()
		}
	}
	if err != nil {
		os.Exit(1)
	}
}

func run(rec *record) error {
	user, pass := os.Getenv("MCPGATE_SIGNIN_USERNAME"), os.Getenv("MCPGATE_SIGNIN_PASSWORD")
	if user == "" || pass == "" {
		return fmt.Errorf("MCPGATE_SIGNIN_USERNAME and MCPGATE_SIGNIN_PASSWORD must be set")
	}
	u, err := url.Parse(rec.URL)
	if err != nil {
		return fmt.Errorf("the argument is not a URL: %w", err)
	}
	if !loopback(u.Hostname()) {
		return fmt.Errorf("refusing to visit %s: only loopback hosts are allowed in tests", u.Host)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p := &testutil.Person{Username: user, Password: pass}
	redirect, err := p.Authorize(ctx, rec.URL)
	rec.Seen, rec.Redirect = p.Seen, redirect
	if err != nil {
		return err
	}
	if r, err := url.Parse(redirect); err != nil || !loopback(r.Hostname()) {
		return fmt.Errorf("sign-in ended on a non-loopback redirect %q", redirect)
	}
	return nil
}

func loopback(host string) bool { return loopbackhost.Host(host) }
