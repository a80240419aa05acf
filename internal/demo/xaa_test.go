package demo_test

import (
	"context"
	"io"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/client"
	"github.com/mcpgate/mcpgate/internal/demo"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

var xaaLine = regexp.MustCompile(`export MCPGATE_IDP=(\S+) MCPGATE_IDP_CLIENT_ID=(\S+) MCPGATE_IDP_CLIENT_SECRET=(\S+) `)

// TestDemoEnterprise follows the demo's enterprise-managed authorization instructions: one
// browser sign-in at the demo IdP, then weather and stocks through ID-JAGs with no browser;
// the stocks policy still sees alice's groups.
func TestDemoEnterprise(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo")
	}
	p := startDemo(t)
	m := xaaLine.FindStringSubmatch(p.out.String())
	if m == nil || m[2] != demo.XAAClientID {
		t.Fatalf("the welcome text does not explain enterprise-managed authorization:\n%s", p.out.String())
	}
	idp, secret := m[1], m[3]
	cache := t.TempDir()
	browser := 0
	person := &testutil.Person{Username: "alice", Password: p.passwords["alice"]}
	newClient := func(url string) *client.Client {
		c, err := client.New(client.Options{ServerURL: url, CacheDir: cache, Prompt: io.Discard, ClientID: demo.XAAClientID, ClientSecret: secret,
			Enterprise: &client.Enterprise{IdP: idp, ClientID: demo.XAAClientID, ClientSecret: secret, RedirectPort: demo.XAARedirectPort},
			OpenURL:    func(ctx context.Context, u string) error { browser++; _, err := person.Authorize(ctx, u); return err }})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if _, err = newClient(p.routes["weather"]).Login(ctx, client.Challenge{}, "", false); err == nil || time.Now().After(deadline) || !strings.Contains(err.Error(), "server_error") {
			break
		}
	}
	if err != nil {
		t.Fatalf("enterprise login: %v (visited %v)", err, person.Seen)
	}
	for _, route := range []string{"weather", "stocks"} {
		cs, err := mcp.NewClient(&mcp.Implementation{Name: "t", Version: "1"}, nil).Connect(ctx,
			&mcp.StreamableClientTransport{Endpoint: p.routes[route], HTTPClient: newClient(p.routes[route]).HTTPClient(), DisableStandaloneSSE: true}, nil)
		if err != nil {
			t.Fatalf("%s: %v", route, err)
		}
		names := toolNames(t, ctx, cs)
		cs.Close()
		if route == "stocks" && !slices.Contains(names, "get_quote") {
			t.Fatalf("alice (finance) does not see get_quote through an ID-JAG token: %v", names)
		}
	}
	if browser != 1 {
		t.Fatalf("the browser opened %d times, want once (at the IdP)", browser)
	}
}
