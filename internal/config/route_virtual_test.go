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
		{"route upstreamAuth", `    upstreamAuth: {static: {value: k}}
    upstreams: [{name: a, url: http://127.0.0.1:8/mcp}]
`, []string{"set upstreamAuth on each of its upstreams"}},
		{"an upstream's upstreamAuth is validated", `    upstreams: [{name: a, url: http://127.0.0.1:8/mcp, upstreamAuth: {static: {}}}]
`, []string{"routes[0] (tools).upstreams[0].upstreamAuth.static: give exactly one of value"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse("test.yaml", []byte(head+tc.yaml), func(string) (string, bool) { return "", false })
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
