package upstream

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testutil"
)

// TestConnectionPagesInChromium links a real third-party account (oidc-provider) through
// the connection pages in headless Chromium, then disconnects it, and checks that the
// pages cannot be framed. MCPGATE_UPDATE_SCREENSHOTS=1 writes docs/screenshots.
func TestConnectionPagesInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	nodeDir := testutil.NodeModules(t)
	chromium := testutil.Chromium(t)
	e := setupConnections(t)
	var res struct {
		ListTitle, ListBefore, ConnectTitle, ConnectText, ListConnected, ListAfter, FramedText string
		ConsoleErrors, FrameErrors                                                             []string
	}
	testutil.RunNodeDriver(t, nodeDir, 90*time.Second, []string{"CHROMIUM=" + chromium}, &res, "browser_connect.cjs", e.base+"/", "alice", testutil.ScreenshotDir(t))
	checks := []struct {
		name, got string
		want      []string
	}{
		{"list title", res.ListTitle, []string{"My connections · mcpgate"}},
		{"list before", res.ListBefore, []string{"Signed in as alice", "Third Party", "Not connected"}},
		{"connect page", res.ConnectText, []string{"act as you at Third Party", "api:read", "encrypted", "Connect Third Party"}},
		{"after linking", res.ListConnected, []string{"Third Party is connected", "Connected", "since", "Disconnect"}},
		{"after disconnect", res.ListAfter, []string{"Third Party is disconnected", "Not connected"}},
	}
	for _, c := range checks {
		for _, w := range c.want {
			if !strings.Contains(c.got, w) {
				t.Errorf("%s: %q does not contain %q", c.name, c.got, w)
			}
		}
	}
	for _, m := range res.ConsoleErrors {
		if strings.Contains(m, "Content Security Policy") || strings.Contains(m, "Refused") {
			t.Errorf("browser console: %s", m)
		}
	}
	// Blocked, Chromium shows its own error page in the frame; our page says "mcpgate".
	if strings.Contains(res.FramedText, "mcpgate") || strings.Contains(res.FramedText, "connections") {
		t.Errorf("the connections page rendered inside a frame: %q", res.FramedText)
	}
	if recs, _ := e.store.ListConnections(context.Background(), "alice"); len(recs) != 0 {
		t.Errorf("connection still stored after disconnect: %+v", recs)
	}
}
