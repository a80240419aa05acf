package virtual

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/gateway"
)

// startError marks a stdio command that could not be started at all (not found, not
// executable, bad working directory).
type startError struct{ err error }

func (e *startError) Error() string { return e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

func callerPrincipal(c *gateway.Caller) *authn.Principal {
	if c == nil {
		return nil
	}
	return c.Principal
}

// command builds the stdio transport of u for a caller: the command and its arguments
// as a list (never a shell), only the configured environment, the user's identity only
// where IdentityEnv names a variable (and never for a shared process), stderr to the log.
func (s *Server) command(u *Upstream, caller *gateway.Caller) mcp.Transport {
	cmd := exec.Command(u.Command, u.Args...)
	cmd.Dir = u.Dir
	cmd.Env = append([]string{}, u.Env...)
	if p := callerPrincipal(caller); p != nil && !u.Shared {
		ie := u.IdentityEnv
		for _, kv := range [][2]string{{ie.Subject, p.Subject}, {ie.Email, p.Email}, {ie.Name, p.Name},
			{ie.Groups, strings.Join(p.Groups, ",")}, {ie.Issuer, p.Issuer}} {
			if kv[0] != "" {
				cmd.Env = append(cmd.Env, kv[0]+"="+kv[1])
			}
		}
	}
	cmd.Stderr = &stderrLog{log: s.log.With("upstream", u.Name)}
	return &startTransport{CommandTransport: mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}}
}

// startTransport marks failures to start the command as startError.
type startTransport struct{ mcp.CommandTransport }

func (t *startTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	conn, err := t.CommandTransport.Connect(ctx)
	var ee *exec.Error
	var pe *fs.PathError
	if err != nil && (errors.As(err, &ee) || errors.As(err, &pe)) {
		return nil, &startError{err}
	}
	return conn, err
}

// maxStderrLine bounds one logged line of a stdio server's stderr.
const maxStderrLine = 4096

// stderrLog writes a stdio server's stderr to the log, a line per record.
type stderrLog struct {
	log *slog.Logger
	mu  sync.Mutex
	buf []byte
}

func (w *stderrLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.buf = append(w.buf, p...)
			if len(w.buf) > maxStderrLine {
				w.flush()
			}
			break
		}
		w.buf = append(w.buf, p[:i]...)
		w.flush()
		p = p[i+1:]
	}
	return n, nil
}

func (w *stderrLog) flush() {
	line := w.buf
	if len(line) > maxStderrLine {
		line = line[:maxStderrLine]
	}
	w.log.Info("stdio upstream stderr", "line", string(line))
	w.buf = w.buf[:0]
}
