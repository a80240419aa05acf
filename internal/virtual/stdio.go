package virtual

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/time/rate"

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
	return &processTransport{cmd: cmd, up: u, log: s.log.With("upstream", u.Name)}
}

// errOutputTooLong: a stdio server wrote a message (a line) longer than its
// MaxLineBytes; the process is killed so that it cannot grow mcpgate's memory.
var errOutputTooLong = errors.New("its output exceeded the message size limit")

// terminateAfter is how long a process has to exit after its stdin is closed, and again
// after SIGTERM, before it is killed.
const terminateAfter = 2 * time.Second

// processTransport starts a stdio server and speaks newline-delimited JSON with it, like
// the SDK's CommandTransport, but bounds what the server may write: a message longer
// than MaxLineBytes ends the process (errOutputTooLong), and output faster than
// MaxOutputRate is read more slowly (the server blocks on its pipe), so neither an
// endless line nor a flood grows memory. Failures to start are startError.
type processTransport struct {
	cmd *exec.Cmd
	up  *Upstream
	log *slog.Logger
}

func (t *processTransport) Connect(ctx context.Context) (mcp.Connection, error) {
	stdout, err := t.cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := t.cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := t.cmd.Start(); err != nil {
		var ee *exec.Error
		var pe *fs.PathError
		if errors.As(err, &ee) || errors.As(err, &pe) {
			return nil, &startError{err}
		}
		return nil, err
	}
	p := &process{cmd: t.cmd, stdin: stdin, max: t.up.MaxLineBytes, log: t.log, done: make(chan struct{})}
	p.out = stdout
	if r := t.up.MaxOutputRate; r > 0 {
		p.lim = rate.NewLimiter(rate.Limit(r), max(r, 64<<10))
	}
	// The SDK's own frame cap stays above ours, which reports the cause.
	tr := &mcp.IOTransport{Reader: io.NopCloser(p), Writer: p, MaxLineLength: 2*p.max + 64<<10}
	return tr.Connect(ctx)
}

// process is a running stdio server: reads are its stdout, bounded per line and in rate;
// writes go to its stdin; Close ends it.
type process struct {
	cmd   *exec.Cmd
	out   io.Reader
	stdin io.WriteCloser
	max   int
	lim   *rate.Limiter
	log   *slog.Logger
	line  int           // bytes since the last newline
	done  chan struct{} // closed when cmd.Wait returned
	once  sync.Once
}

func (p *process) Read(b []byte) (int, error) {
	if p.lim != nil && len(b) > p.lim.Burst() {
		b = b[:p.lim.Burst()]
	}
	n, err := p.out.Read(b)
	if i := bytes.LastIndexByte(b[:n], '\n'); i >= 0 {
		p.line = n - i - 1
	} else {
		p.line += n
	}
	if p.line > p.max {
		p.log.Error("stdio upstream wrote a message longer than its limit; stopping it", "max_line_bytes", p.max)
		_ = p.cmd.Process.Kill()
		return 0, errOutputTooLong
	}
	if p.lim != nil && n > 0 {
		if werr := p.lim.WaitN(context.Background(), n); werr != nil {
			return n, werr
		}
	}
	return n, err
}

func (p *process) Write(b []byte) (int, error) { return p.stdin.Write(b) }

// Close closes the server's stdin, waits for it to exit, then sends SIGTERM, then kills
// it (the MCP stdio shutdown sequence).
func (p *process) Close() error {
	p.once.Do(func() {
		_ = p.stdin.Close()
		go func() { _ = p.cmd.Wait(); close(p.done) }() // after the reads: Wait closes stdout
		for _, next := range []func(){func() { _ = p.cmd.Process.Signal(syscall.SIGTERM) }, func() { _ = p.cmd.Process.Kill() }, nil} {
			select {
			case <-p.done:
				return
			case <-time.After(terminateAfter):
			}
			if next == nil {
				return
			}
			next()
		}
	})
	return nil
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
