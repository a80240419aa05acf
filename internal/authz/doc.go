// Package authz decides what a caller may see and do on a route: CEL policy rules
// (allow, deny, require) evaluated per MCP request, list filtering of tools/list,
// prompts/list, resources/list and resources/templates/list results, per-route tool
// include/exclude lists and renames, and the JSON-RPC refusals a gateway sends back.
//
// A denial is a value (Decision), never an error. The package is independent of the
// HTTP gateway: the gateway's interceptor builds a Vars from the principal and the parsed
// MCP request, calls Route.Check, and for list requests installs Route.ListFilter on the
// response messages (JSON bodies and each SSE event's data).
//
// It takes its own option types (RouteOptions, PolicyOptions, Rule, ToolsOptions) and
// reads no configuration: internal/app maps the policy, ruleSets and tools sections to
// them.
package authz
