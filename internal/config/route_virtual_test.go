package config

import (
	"strings"
	"testing"
)

func TestVirtualServerConfig(t *testing.T) {
	const head = `
issuers: [{name: corp, issuer: https://sso.example.com}]
routes:
  - name: tools
    path: /tools/mcp
    auth: {issuers: [corp]}
`
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error; none = valid
	}{
		{"valid", `    upstreams:
      - {name: github, url: https://api.example.com/mcp, prefix: github_, upstreamAuth: {static: {value: k}}}
      - {name: files, command: go, args: [run, ./server], prefix: files_, env: {TOKEN: x}, passEnv: [HOME], identityEnv: {subject: USER_SUB}}
      - {name: misc, url: http://127.0.0.1:9/mcp, renames: {echo: misc_echo}}
`, nil},
		{"same prefix refused, both named", `    upstreams:
      - {name: a, url: http://127.0.0.1:9/mcp, prefix: x_}
      - {name: b, url: http://127.0.0.1:8/mcp, prefix: x_}
`, []string{`routes[0] (tools).upstreams[1].prefix: "x_" is also the prefix of upstreams[0] (a): their tool and prompt names would collide`}},
		{"renames to one name refused, both named", `    upstreams:
      - {name: a, url: http://127.0.0.1:9/mcp, renames: {search: find}}
      - {name: b, url: http://127.0.0.1:8/mcp, renames: {lookup: find}}
`, []string{`name "find" conflicts: upstreams[0] (a)'s "search" and upstreams[1] (b)'s "lookup" would both be shown under it`}},
		{"upstream and upstreams", `    upstream: {url: http://127.0.0.1:9/mcp}
    upstreams: [{name: a, url: http://127.0.0.1:8/mcp}]
`, []string{"give upstream or upstreams, not both"}},
		{"bad commands explained", `    upstreams:
      - {name: a, command: "npx -y server-everything", prefix: a_}
      - {name: b, command: /nonexistent/server, prefix: b_}
      - {name: c, command: go, url: http://x/mcp, prefix: c_}
      - {name: d, command: go, shared: true, identityEnv: {subject: S}, upstreamAuth: {static: {value: k}}}
`, []string{`upstreams[0].command: "npx -y server-everything": give the program alone and its arguments in args`,
			`upstreams[1].command: "/nonexistent/server" cannot be run`,
			`upstreams[2]: give exactly one of url (Streamable HTTP) or command (stdio)`,
			`upstreams[3].upstreamAuth: is for a url upstream`,
			`upstreams[3].identityEnv: a shared process serves every user`}},
		{"missing working directory", `    upstreams:
      - {name: a, command: go, dir: /nonexistent/dir, prefix: a_, maxLineBytes: -1}
`, []string{`upstreams[0].dir: "/nonexistent/dir" cannot be used as the working directory`, `upstreams[0].maxLineBytes: must not be negative`}},
		{"route upstreamAuth", `    upstreamAuth: {static: {value: k}}
    upstreams: [{name: a, url: http://127.0.0.1:8/mcp}]
`, []string{"set upstreamAuth on each of its upstreams"}},
		{"an upstream's upstreamAuth is validated", `    upstreams: [{name: a, url: http://127.0.0.1:8/mcp, upstreamAuth: {static: {}}}]
`, []string{"routes[0] (tools).upstreams[0].upstreamAuth.static: give exactly one of value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parseWants(t, head+tc.yaml, tc.want)
		})
	}
}

func TestVirtualServerPrefixWarning(t *testing.T) {
	_, warnings, err := Parse("test.yaml", []byte(`
issuers: [{name: corp, issuer: https://sso.example.com}]
routes:
  - name: tools
    path: /tools/mcp
    auth: {issuers: [corp]}
    upstreams:
      - {name: gh, url: http://127.0.0.1:9/mcp, prefix: gh_}
      - {name: ghx, url: http://127.0.0.1:8/mcp, prefix: gh_x_}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(warnings, "\n"), `routes[0] (tools).upstreams[1].prefix: "gh_x_" and the prefix "gh_" of upstreams[0] (gh) start alike`) {
		t.Fatalf("warnings = %v", warnings)
	}
}

// A connection discovered from its MCP server needs no endpoints; what would contradict
// discovery, or reach a private address without being allowed, is explained.
func TestDiscoveredConnectionConfig(t *testing.T) {
	const head = `
publicURL: https://gw.example.com
issuers: [{name: corp, issuer: https://sso.example.com}]
routes:
  - name: tools
    path: /tools/mcp
    auth: {issuers: [corp]}
    upstreams:
      - {name: notes, url: https://mcp.notes.example/mcp, upstreamAuth: {connection: {provider: notes}}}
upstreamCredentials:
  connections:
`
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"valid", `    - {name: notes, mcpServer: https://mcp.notes.example/mcp, metadataHosts: [mcp.notes.example, auth.notes.example]}
`, nil},
		{"valid, pre-registered", `    - {name: notes, mcpServer: https://mcp.notes.example/mcp, clientId: mcpgate, clientSecret: s}
`, nil},
		{"valid, loopback listed", `    - {name: notes, mcpServer: http://127.0.0.1:9000/mcp, metadataHosts: [127.0.0.1]}
`, nil},
		{"endpoints contradict discovery", `    - {name: notes, mcpServer: https://mcp.notes.example/mcp, tokenURL: https://x/token, resource: https://x}
`, []string{"upstreamCredentials.connections[0] (notes).tokenURL: is discovered from mcpServer", "(notes).resource: is discovered from mcpServer"}},
		{"loopback not listed", `    - {name: notes, mcpServer: http://127.0.0.1:9000/mcp}
`, []string{`(notes).metadataHosts: mcpServer http://127.0.0.1:9000/mcp is on a loopback or private address: list "127.0.0.1" here`}},
		{"http on a public host", `    - {name: notes, mcpServer: http://mcp.notes.example/mcp}
`, []string{`(notes).mcpServer: "http://mcp.notes.example/mcp": discovery needs https`}},
		{"bad host", `    - {name: notes, mcpServer: https://mcp.notes.example/mcp, metadataHosts: ["https://auth.notes.example/"]}
`, []string{`(notes).metadataHosts[0]: "https://auth.notes.example/" is not a host name`}},
		{"provisioned to groups", `    - {name: notes, mcpServer: https://mcp.notes.example/mcp, offerTo: [eng, ops], requiredFor: [ops]}
`, nil},
		{"required of a group it is not offered to", `    - {name: notes, mcpServer: https://mcp.notes.example/mcp, offerTo: [eng], requiredFor: [ops]}
`, []string{`(notes).requiredFor: group "ops" is required to link notes, which is offered only to eng: add it to offerTo`}},
		{"metadataHosts without mcpServer", `    - {name: notes, authorizeURL: https://a/authorize, tokenURL: https://a/token, clientId: c, metadataHosts: [a]}
`, []string{`(notes).metadataHosts: is for an mcpServer connection`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parseWants(t, head+tc.yaml, tc.want)
		})
	}
}

// parseWants parses yaml and checks the outcome: accepted when want is empty, else refused
// with an error that contains each of want.
func parseWants(t *testing.T, yaml string, want []string) {
	t.Helper()
	_, _, err := Parse("test.yaml", []byte(yaml), func(string) (string, bool) { return "", false })
	if len(want) == 0 {
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	if err == nil {
		t.Fatal("accepted")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q:\n%v", w, err)
		}
	}
}
