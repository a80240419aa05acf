package virtual

import (
	"context"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// List changes: an upstream that says its tools, prompts or resources changed (a
// notifications/*/list_changed on its 2025-11-25 GET stream, or on the
// subscriptions/listen stream the SDK client opens with a 2026-07-28 server) makes the
// virtual server forget the lists it indexed for the users of that session and tell the
// client sessions of those users that the merged list changed: on their GET stream
// (2025-11-25) or their subscriptions/listen stream (2026-07-28), which the SDK server
// keeps. The SDK server notifies every session; audience.go lets the notification through
// only to the sessions of the user whose upstream session changed (everyone's, for a
// shared process).

// listChangedSentinel is a tool, prompt and resource name never shown to clients (the
// virtual server answers every list itself): adding and removing it makes the SDK server
// send one debounced list_changed notification of that kind to its sessions.
const listChangedSentinel = "mcpgate-list-changed-sentinel"

const sentinelResourceURI = "mcpgate:list-changed-sentinel"

// clientHandlers are the list-change and resource-update handlers of k's upstream client
// session c.
func (s *Server) clientHandlers(k connKey, c *conn, o *mcp.ClientOptions) {
	o.ResourceUpdatedHandler = func(ctx context.Context, r *mcp.ResourceUpdatedNotificationRequest) {
		if r.Params != nil {
			s.resourceUpdated(ctx, c, r.Params.URI)
		}
	}
	o.ToolListChangedHandler = func(ctx context.Context, _ *mcp.ToolListChangedRequest) { s.listChanged(ctx, k, "tools") }
	o.PromptListChangedHandler = func(ctx context.Context, _ *mcp.PromptListChangedRequest) { s.listChanged(ctx, k, "prompts") }
	o.ResourceListChangedHandler = func(ctx context.Context, _ *mcp.ResourceListChangedRequest) { s.listChanged(ctx, k, "resources") }
}

func (s *Server) listChanged(ctx context.Context, k connKey, kind string) {
	s.log.DebugContext(ctx, "virtual server: upstream list changed", "upstream", k.upstream, "kind", kind)
	s.mu.Lock()
	if k.user == "" { // a shared process: everyone's lists
		clear(s.indexes)
	} else {
		delete(s.indexes, k.user)
	}
	s.mu.Unlock()
	s.notifyMu.Lock()
	defer s.notifyMu.Unlock()
	s.audience.markUser(markKey("notifications/"+kind+"/list_changed", ""), k.user)
	switch kind {
	case "tools":
		s.mcp.AddTool(&mcp.Tool{Name: listChangedSentinel, InputSchema: map[string]any{"type": "object"}}, func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return nil, nil
		})
		s.mcp.RemoveTools(listChangedSentinel)
	case "prompts":
		s.mcp.AddPrompt(&mcp.Prompt{Name: listChangedSentinel}, func(context.Context, *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) { return nil, nil })
		s.mcp.RemovePrompts(listChangedSentinel)
	case "resources":
		s.mcp.AddResource(&mcp.Resource{Name: listChangedSentinel, URI: sentinelResourceURI}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return nil, nil
		})
		s.mcp.RemoveResources(sentinelResourceURI)
	}
}
