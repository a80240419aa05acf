package virtual

import (
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/gateway"
)

// target is where a client-visible name goes: an upstream and the name it knows.
type target struct {
	up   *Upstream
	real string
}

// index is a user's last merged lists: visible names to targets, resource URIs (and
// URI-template literal prefixes) to upstreams.
type index struct {
	tools, prompts map[string]target
	resources      map[string]target
	templates      []prefixTarget
}

type prefixTarget struct {
	prefix string
	t      target
}

// resource finds the upstream of a URI: one that listed it, else the longest literal
// prefix of a listed URI template.
func (ix *index) resource(uri string) (target, bool) {
	if t, ok := ix.resources[uri]; ok {
		return t, true
	}
	best, found := -1, target{}
	for _, pt := range ix.templates {
		if len(pt.prefix) > best && strings.HasPrefix(uri, pt.prefix) {
			best, found = len(pt.prefix), pt.t
		}
	}
	return found, best >= 0
}

// merged is one user's merged lists and the upstreams that could not be listed.
type merged struct {
	tools       []*mcp.Tool
	prompts     []*mcp.Prompt
	resources   []*mcp.Resource
	templates   []*mcp.ResourceTemplate
	unavailable []map[string]string
	failed      map[*Upstream]error
}

func (m *merged) meta() mcp.Meta {
	if len(m.unavailable) == 0 {
		return nil
	}
	return mcp.Meta{MetaUnavailable: m.unavailable}
}

// upstreamLists is what one upstream listed.
type upstreamLists struct {
	tools     []*mcp.Tool
	prompts   []*mcp.Prompt
	resources []*mcp.Resource
	templates []*mcp.ResourceTemplate
	err       error
}

// listAll lists every upstream at once for the caller and merges the lists in the
// configured order. A failing upstream is left out (logged, and named in the result's
// _meta); a name two upstreams would both show is kept for the first and logged.
func (s *Server) listAll(ctx context.Context, c *gateway.Caller) (*merged, *index) {
	lists := make([]upstreamLists, len(s.ups))
	var wg sync.WaitGroup
	for i, u := range s.ups {
		wg.Go(func() { lists[i] = s.listOne(ctx, u, c) })
	}
	wg.Wait()

	m := &merged{failed: map[*Upstream]error{}}
	ix := &index{tools: map[string]target{}, prompts: map[string]target{}, resources: map[string]target{}}
	for i, u := range s.ups {
		l := lists[i]
		if l.err != nil {
			s.log.ErrorContext(ctx, "virtual server: upstream left out of the lists", "upstream", u.Name, "err", l.err)
			m.unavailable = append(m.unavailable, map[string]string{"upstream": u.Name, "error": kindOf(l.err)})
			m.failed[u] = l.err
			continue
		}
		for _, t := range l.tools {
			v := u.visible(t.Name)
			if prev, ok := ix.tools[v]; ok {
				s.log.ErrorContext(ctx, "virtual server: tool name conflict; the second is left out", "name", v,
					"first", prev.up.Name+":"+prev.real, "second", u.Name+":"+t.Name)
				continue
			}
			ix.tools[v] = target{u, t.Name}
			ct := *t
			ct.Name = v
			m.tools = append(m.tools, &ct)
		}
		for _, p := range l.prompts {
			v := u.visible(p.Name)
			if prev, ok := ix.prompts[v]; ok {
				s.log.ErrorContext(ctx, "virtual server: prompt name conflict; the second is left out", "name", v,
					"first", prev.up.Name+":"+prev.real, "second", u.Name+":"+p.Name)
				continue
			}
			ix.prompts[v] = target{u, p.Name}
			cp := *p
			cp.Name = v
			m.prompts = append(m.prompts, &cp)
		}
		for _, r := range l.resources {
			if prev, ok := ix.resources[r.URI]; ok {
				s.log.WarnContext(ctx, "virtual server: resource listed by two upstreams; the first serves it", "uri", r.URI,
					"first", prev.up.Name, "second", u.Name)
				continue
			}
			ix.resources[r.URI] = target{u, r.URI}
			m.resources = append(m.resources, r)
		}
		for _, rt := range l.templates {
			prefix, _, _ := strings.Cut(rt.URITemplate, "{")
			ix.templates = append(ix.templates, prefixTarget{prefix, target{u, rt.URITemplate}})
			m.templates = append(m.templates, rt)
		}
	}
	s.mu.Lock()
	s.indexes[userKey(c)] = ix
	s.mu.Unlock()
	return m, ix
}

// listOne lists everything an upstream offers (every page), as far as it declares it.
func (s *Server) listOne(ctx context.Context, u *Upstream, c *gateway.Caller) (l upstreamLists) {
	cs, done, err := s.session(ctx, u, c)
	if err != nil {
		l.err = err
		return l
	}
	defer done()
	ctx, cancel := context.WithTimeout(ctx, u.CallTimeout)
	defer cancel()
	caps := &mcp.ServerCapabilities{}
	if ir := cs.InitializeResult(); ir != nil && ir.Capabilities != nil {
		caps = ir.Capabilities
	}
	if caps.Tools != nil {
		for t, err := range cs.Tools(ctx, nil) {
			if err != nil {
				l.err = err
				return l
			}
			l.tools = append(l.tools, t)
		}
	}
	if caps.Prompts != nil {
		for p, err := range cs.Prompts(ctx, nil) {
			if err != nil {
				l.err = err
				return l
			}
			l.prompts = append(l.prompts, p)
		}
	}
	if caps.Resources != nil {
		for r, err := range cs.Resources(ctx, nil) {
			if err != nil {
				l.err = err
				return l
			}
			l.resources = append(l.resources, r)
		}
		for r, err := range cs.ResourceTemplates(ctx, nil) {
			if err != nil {
				l.err = err
				return l
			}
			l.templates = append(l.templates, r)
		}
	}
	return l
}

// resolve looks a visible name up in the caller's last lists, listing once more when it
// is not there (a client may call a tool it has not listed in this process). A name that
// only an upstream which could not be listed may own gets that upstream's error.
func (s *Server) resolve(ctx context.Context, c *gateway.Caller, name string, find func(*index) (target, bool)) (target, error) {
	s.mu.Lock()
	ix := s.indexes[userKey(c)]
	s.mu.Unlock()
	if ix != nil {
		if t, ok := find(ix); ok {
			return t, nil
		}
	}
	m, ix := s.listAll(ctx, c)
	if t, ok := find(ix); ok {
		return t, nil
	}
	owner := func() (*Upstream, error) {
		for _, u := range s.ups {
			if err, ok := m.failed[u]; ok && u.mayOwn(name) {
				return u, err
			}
		}
		return nil, nil
	}
	u, err := owner()
	if u == nil {
		return target{}, errNotFound
	}
	// A retry whose user accepted linking the account: the gateway holds it until the
	// account is linked (the client retries as soon as the browser opens).
	var found target
	err = c.AwaitInput(ctx, err, func() error {
		if m, ix = s.listAll(ctx, c); ix != nil {
			if t, ok := find(ix); ok {
				found = t
				return nil
			}
		}
		var e error
		if u2, e2 := owner(); u2 != nil {
			u, e = u2, e2
		}
		if e == nil {
			e = errNotFound
		}
		return e
	})
	switch {
	case err == nil:
		return found, nil
	case errors.Is(err, errNotFound):
		return target{}, errNotFound
	}
	return target{}, s.upstreamError(ctx, u, c, "list", err)
}

var errNotFound = errors.New("not found")
