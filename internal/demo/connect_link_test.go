package demo_test

import (
	"context"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/demo"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// TestDemoConnectLinkSignsIn: the connect link a client shows for the tasks route, opened
// in a fresh browser (no mcpgate session), leads through mcpgate's sign-in to the connect
// page, through Contoso, and back to My connections; the client's retry then works.
func TestDemoConnectLinkSignsIn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo as a subprocess")
	}
	d := startDemo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := strings.TrimSuffix(d.routes["tasks"], "/tasks/mcp")
	connect := base + "/connections/tasks/connect"

	// A fresh browser: mcpgate's sign-in (local account alice), then the connect page,
	// whose Connect button leads to Contoso.
	browser := &testutil.Person{Username: "alice", Password: d.passwords["alice"], StopAt: base + "/entra/"}
	atContoso, err := browser.Authorize(ctx, connect)
	if err != nil {
		t.Fatalf("opening %s without a session: %v (pages: %v)", connect, err, browser.Seen)
	}
	wantLogin := base + "/login?return=" + url.QueryEscape("/connections/tasks/connect")
	if len(browser.Seen) < 3 || browser.Seen[1] != wantLogin || !slices.Contains(browser.Seen[2:], connect) {
		t.Fatalf("want %s → %s → (sign-in) → %s; pages: %v", connect, wantLogin, connect, browser.Seen)
	}
	// Contoso's own sign-in (its user name is the UPN), then back to My connections.
	browser.Username, browser.StopAt, browser.Seen = demo.ContosoUPN("alice"), base+"/connections/?", nil
	back, err := browser.Authorize(ctx, atContoso)
	if err != nil || !strings.Contains(back, "connected=tasks") {
		t.Fatalf("connecting Tasks: %v, ended at %q (pages: %v)", err, back, browser.Seen)
	}

	// The same user (local alice) now reaches tasks with her Tasks token.
	alice := &testutil.Person{Username: "alice", Password: d.passwords["alice"]}
	id, res, err := identity(t, ctx, personSession(t, ctx, d.routes["tasks"], alice, ""))
	if err != nil || res.IsError {
		t.Fatalf("tasks after connecting: %v %s", err, text(res))
	}
	if !slices.Equal(id.Audience, []string{demo.TasksAPIURI}) || id.UPN != demo.ContosoUPN("alice") {
		t.Errorf("tasks upstream should get alice's api://tasks token; got %+v", id)
	}
}
