package virtual

import (
	"log/slog"
	"os/exec"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// ProcessTransport exposes the bounded stdio transport to the external tests.
func ProcessTransport(cmd *exec.Cmd, maxLineBytes, maxOutputRate int) mcp.Transport {
	return &processTransport{cmd: cmd, up: &Upstream{MaxLineBytes: maxLineBytes, MaxOutputRate: maxOutputRate}, log: slog.New(slog.DiscardHandler)}
}
