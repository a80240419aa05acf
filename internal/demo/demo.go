package demo

import (
	"hash/fnv"
	"log/slog"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Options tune the demo handlers. The zero value is fine.
type Options struct {
	// Logger receives the go-sdk transport logs; nil discards them.
	Logger *slog.Logger
	// DisableLocalhostProtection turns off the go-sdk's DNS-rebinding guard, for when the
	// handler is mounted behind a proxy that forwards a non-localhost Host.
	DisableLocalhostProtection bool
}

func handler(s *mcp.Server, o *Options) http.Handler {
	if o == nil {
		o = &Options{}
	}
	// Stateless: the go-sdk serves 2026-07-28 only without sessions, and still serves
	// 2025-11-25 and older clients (initialize, then each request on its own; the GET
	// stream answers 405). So go-sdk v1.8.0 clients get 2026-07-28 and older ones (the
	// TypeScript SDK) 2025-11-25 from the same demo. None of the demo tools needs a
	// session: they ask the client nothing.
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{
		Stateless:                  true,
		Logger:                     o.Logger,
		DisableLocalhostProtection: o.DisableLocalhostProtection,
	})
}

func hash(parts ...string) uint64 {
	h := fnv.New64a()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return h.Sum64()
}

// Handlers returns every demo server by name ("weather", "stocks", "whoami"), for mounting
// under e.g. /<name>/mcp.
func Handlers(o *Options) map[string]http.Handler {
	return map[string]http.Handler{"weather": Weather(o), "stocks": Stocks(o), "whoami": Whoami(o)}
}
