package virtual

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/gateway"
)

// discover merges the upstreams into the SDK server's server/discover answer (protocol
// 2026-07-28): the instructions of every upstream the caller can reach, each under its
// name and how its tools are named, and the upstreams that could not be reached in _meta
// as in lists. A stdio upstream counts only when the caller's process already runs:
// clients send server/discover on every connection, and that must not start a process
// per user.
func (s *Server) discover(ctx context.Context, c *gateway.Caller, res *mcp.DiscoverResult) {
	type answer struct {
		instructions string
		err          error
	}
	answers := make([]answer, len(s.ups))
	var wg sync.WaitGroup
	for i, u := range s.ups {
		if u.stdio() && !s.running(u, c) {
			continue
		}
		wg.Go(func() {
			cs, done, err := s.session(ctx, u, c)
			if err != nil {
				answers[i].err = err
				return
			}
			defer done()
			if ir := cs.InitializeResult(); ir != nil {
				answers[i].instructions = strings.TrimSpace(ir.Instructions)
			}
		})
	}
	wg.Wait()
	var b strings.Builder
	if res.Instructions != "" {
		b.WriteString(res.Instructions)
	}
	var unavailable []map[string]string
	for i, u := range s.ups {
		a := answers[i]
		if a.err != nil {
			s.log.WarnContext(ctx, "virtual server: upstream left out of server/discover", "upstream", u.Name, "err", a.err)
			unavailable = append(unavailable, map[string]string{"upstream": u.Name, "error": kindOf(a.err)})
			continue
		}
		if a.instructions == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		fmt.Fprintf(&b, "## %s", u.Name)
		if u.Prefix != "" {
			fmt.Fprintf(&b, " (its tools and prompts are named %s…)", u.Prefix)
		}
		b.WriteString("\n" + a.instructions)
	}
	res.Instructions = b.String()
	if len(unavailable) > 0 {
		if res.Meta == nil {
			res.Meta = mcp.Meta{}
		}
		res.Meta[MetaUnavailable] = unavailable
	}
}

// running reports whether the caller's session with u is connected.
func (s *Server) running(u *Upstream, c *gateway.Caller) bool {
	k := connKey{user: userKey(c), upstream: u.Name}
	if u.Shared {
		k.user = ""
	}
	s.mu.Lock()
	cn := s.conns[k]
	s.mu.Unlock()
	if cn == nil {
		return false
	}
	cn.mu.Lock()
	defer cn.mu.Unlock()
	return cn.cs != nil
}
