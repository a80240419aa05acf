package federation_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/config"
)

// TestEntraGroupOverage: Alice is in more groups than the emulator's (lowered) overage
// threshold, so Entra's id_token carries _claim_names/_claim_sources instead of groups.
// With entra.graphGroupLookup mcpgate redeems her refresh token for a Graph token, calls
// the emulator's Graph getMemberObjects and maps the groups (MCP Admins -> mcp-admins, the
// group a policy would check) into the mcpgate token. Off, or with a failing Graph, she
// signs in without groups and the log says why.
func TestEntraGroupOverage(t *testing.T) {
	const admins = "6a000000-0000-4000-8000-0000000000ad"
	groupIDs := []string{admins}
	for i := range 4 {
		groupIDs = append(groupIDs, fmt.Sprintf("6b000000-0000-4000-8000-%012d", i))
	}
	dir := func(d *config.Entra) {
		d.GroupOverageThreshold = 3
		t := &d.Tenants[0]
		t.Groups = append(t.Groups, config.EntraGroup{ID: admins, DisplayName: "MCP Admins"})
		for _, id := range groupIDs[1:] {
			t.Groups = append(t.Groups, config.EntraGroup{ID: id})
		}
		t.Users[0].Groups = groupIDs
		for i := range d.Apps {
			if d.Apps[i].Name == "mcpgate" {
				d.Apps[i].GroupMembershipClaims = "SecurityGroup" // Token configuration > Add groups claim
			}
		}
	}
	wantLookup := append([]string{"mcp-admins"}, groupIDs[1:]...)
	slices.Sort(wantLookup)
	tests := []struct {
		name     string
		lookup   bool
		graphURL func(e *env) string // "" = the emulator
		noGraph  bool                // mcpgate's registration lacks Graph User.Read (no consent)
		groups   []string
		log      string // a line mcpgate (or the emulator) must have logged
	}{
		{name: "lookup on", lookup: true, groups: wantLookup, log: "Entra group overage resolved through Microsoft Graph"},
		{name: "lookup off", lookup: false, groups: nil, log: "graphGroupLookup is off"},
		{name: "graph fails", lookup: true, graphURL: func(e *env) string { return e.url + "/no-graph-here" }, groups: nil,
			log: "the Microsoft Graph group lookup failed"},
		{name: "no consent for User.Read", lookup: true, noGraph: true, groups: nil, log: "AADSTS65001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cn *config.AuthServerConnector
			mutateDir := dir
			if tt.noGraph {
				mutateDir = func(d *config.Entra) {
					dir(d)
					for i := range d.Apps {
						if d.Apps[i].Name == "mcpgate" {
							d.Apps[i].RequiredResourceAccess = slices.DeleteFunc(d.Apps[i].RequiredResourceAccess,
								func(r config.EntraRequiredAccess) bool { return r.Resource == "Microsoft Graph" })
						}
					}
				}
			}
			e := entraEnv(t, entraSetup{version: 2}, mutateDir, func(c *config.Config) {
				cn = &c.AuthServer.Connectors[0]
				cn.Entra.GraphGroupLookup = tt.lookup
				cn.Entra.GraphURL = cn.Entra.Authority // the emulator serves Graph at its base
				cn.GroupMapping = map[string][]string{admins: {"mcp-admins"}}
			})
			if tt.graphURL != nil {
				cn.Entra.GraphURL = tt.graphURL(e) // the connector reads the config at sign-in
			}
			b := newBrowser(t, "http://127.0.0.1:5555/callback")
			_, h := mcpClient(t, e.resource, b, "overage")
			ts, _ := h.TokenSource(context.Background())
			tok, err := ts.Token()
			if err != nil {
				t.Fatal(err)
			}
			c, _, err := e.as.VerifyAccessToken(context.Background(), tok.AccessToken, e.resource)
			if err != nil {
				t.Fatalf("mcpgate token: %v", err)
			}
			got := slices.Clone(c.Groups)
			slices.Sort(got)
			if !slices.Equal(got, tt.groups) {
				t.Fatalf("mcpgate token groups %v, want %v", got, tt.groups)
			}
			logs := e.logs.String()
			if !strings.Contains(logs, tt.log) {
				t.Fatalf("the log lacks %q:\n%s", tt.log, logs)
			}
			graphCalled, want := strings.Contains(logs, "graph getMemberObjects"), tt.lookup && tt.graphURL == nil && !tt.noGraph
			if graphCalled != want {
				t.Fatalf("the emulator's Graph endpoint called=%v, want %v", graphCalled, want)
			}
		})
	}
}
