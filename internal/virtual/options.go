package virtual

import (
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/gateway"
)

// Defaults.
const (
	// DefaultIdleTimeout closes a user's upstream sessions (and stops their stdio
	// processes) after this long without a request: long enough for a conversation's
	// pauses, short enough that a gateway serving many users does not keep a process each.
	DefaultIdleTimeout = 10 * time.Minute
	// DefaultMaxProcesses bounds the live processes of one stdio upstream.
	DefaultMaxProcesses = 32
	// DefaultCallTimeout bounds one upstream request (list, call, read).
	DefaultCallTimeout = 60 * time.Second
	// DefaultConnectTimeout bounds connecting to an upstream (initialize included).
	DefaultConnectTimeout = 10 * time.Second
	// DefaultMaxLineBytes bounds one message a stdio server writes: large tool results
	// (a file's contents) fit; an endless line does not grow memory past it.
	DefaultMaxLineBytes = 4 << 20
	// DefaultMaxOutputRate bounds how fast a stdio server's output is read, in bytes per
	// second; faster output waits in the pipe.
	DefaultMaxOutputRate = 8 << 20
)

// Options configure a virtual server.
type Options struct {
	// Route names the route in logs and errors.
	Route string
	// Upstreams, at least one; names unique.
	Upstreams []Upstream
	// IdleTimeout closes a user's upstream session unused for this long. Default
	// DefaultIdleTimeout.
	IdleTimeout time.Duration
	// Logger (nil = discard).
	Logger *slog.Logger
}

// Upstream is one MCP server behind a virtual server: URL (Streamable HTTP) or Command
// (stdio), exactly one.
type Upstream struct {
	// Name identifies the upstream in logs, errors and list metadata.
	Name string
	// URL of a Streamable HTTP MCP endpoint.
	URL string
	// Command and Args start a stdio MCP server (never through a shell).
	Command string
	Args    []string
	// Dir is the stdio server's working directory (default: mcpgate's).
	Dir string
	// Env is the stdio server's whole environment besides IdentityEnv, as NAME=value
	// (nothing of mcpgate's own environment is passed unless listed here).
	Env []string
	// IdentityEnv names environment variables set from the user's identity; empty names
	// are not set. Only for per-user processes.
	IdentityEnv IdentityEnv
	// Shared runs one process for all users instead of one per user: only for a server
	// that keeps nothing of one user from another.
	Shared bool
	// MaxProcesses bounds this stdio upstream's live processes. Default
	// DefaultMaxProcesses.
	MaxProcesses int
	// MaxLineBytes bounds one message (line) of a stdio server's output; a longer one
	// stops the process and fails the requests it had. Default DefaultMaxLineBytes.
	MaxLineBytes int
	// MaxOutputRate bounds how fast a stdio server's output is read, in bytes per
	// second. Default DefaultMaxOutputRate; negative: no bound.
	MaxOutputRate int

	// Prefix is put before every tool and prompt name ("github_" makes create_issue
	// github_create_issue).
	Prefix string
	// Renames maps a real tool or prompt name to its visible name (instead of Prefix).
	Renames map[string]string

	// Credentials supplies the headers sent to an HTTP upstream for a caller (nil =
	// none). Called for every upstream request, so short-lived tokens are renewed.
	Credentials gateway.UpstreamCredentials
	// HTTPClient for an HTTP upstream (nil: a client with ConnectTimeout).
	HTTPClient *http.Client
	// ConnectTimeout bounds connecting and initializing. Default DefaultConnectTimeout.
	ConnectTimeout time.Duration
	// CallTimeout bounds each upstream request. Default DefaultCallTimeout.
	CallTimeout time.Duration
}

// requiredLink is an optional ability of a credential error: the user must link an
// account their administrator requires before using the route, so lists answer with the
// prompt (the error) instead of leaving the upstream out.
type requiredLink interface {
	RequiredLink() bool
}

// IdentityEnv names the environment variables that carry a user's identity to a
// per-user stdio process.
type IdentityEnv struct {
	Subject, Email, Name, Groups, Issuer string
}

// visible returns the client-visible name of a real tool or prompt name.
func (u *Upstream) visible(real string) string {
	if v, ok := u.Renames[real]; ok {
		return v
	}
	return u.Prefix + real
}

// mayOwn reports whether a visible name could be one of u's (a rename's target, or
// under u's non-empty prefix).
func (u *Upstream) mayOwn(name string) bool {
	for _, v := range u.Renames {
		if v == name {
			return true
		}
	}
	return u.Prefix != "" && strings.HasPrefix(name, u.Prefix)
}

func (u *Upstream) stdio() bool { return u.Command != "" }

// Validate reports every problem in o at once.
func (o *Options) Validate() error {
	var problems []string
	if len(o.Upstreams) == 0 {
		problems = append(problems, "no upstreams")
	}
	seen := map[string]bool{}
	prefixes := map[string]string{}
	renamed := map[string]string{}
	for i := range o.Upstreams {
		u := &o.Upstreams[i]
		switch {
		case u.Name == "":
			problems = append(problems, fmt.Sprintf("upstreams[%d]: a name is required", i))
		case seen[u.Name]:
			problems = append(problems, fmt.Sprintf("upstreams[%d]: name %q is used twice", i, u.Name))
		}
		seen[u.Name] = true
		if (u.URL == "") == (u.Command == "") {
			problems = append(problems, fmt.Sprintf("upstream %q: set exactly one of url and command", u.Name))
		}
		if len(u.Renames) == 0 {
			if other, ok := prefixes[u.Prefix]; ok {
				problems = append(problems, fmt.Sprintf("upstreams %q and %q both use prefix %q: their tool and prompt names would collide; give each its own prefix", other, u.Name, u.Prefix))
			} else {
				prefixes[u.Prefix] = u.Name
			}
		}
		for real, v := range u.Renames {
			if v == "" || strings.ContainsAny(v, " \t\n") {
				problems = append(problems, fmt.Sprintf("upstream %q: rename of %q to %q: not a valid name", u.Name, real, v))
			}
			if other, ok := renamed[v]; ok {
				problems = append(problems, fmt.Sprintf("name %q conflicts: renamed from %s and from upstream %q's %q", v, other, u.Name, real))
			}
			renamed[v] = fmt.Sprintf("upstream %q's %q", u.Name, real)
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("virtual server %q: %s", o.Route, strings.Join(problems, "; "))
	}
	return nil
}
