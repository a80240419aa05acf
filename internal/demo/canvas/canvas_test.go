package canvas

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcpgate/mcpgate/internal/testutil"
)

func opts() Options {
	return Options{BaseURL: "https://127.0.0.1:8443", Authority: "https://127.0.0.1:8443/entra", Tenant: "t", CanvasClientID: "c",
		AgentClientID: "a", AgentSecret: "s", AgentScope: "api://agent/x", ToolScope: "api://tool/y", ToolURL: "https://127.0.0.1:8443/mcp", Tool: "whoami"}
}

// TestTwoRegistrations: the canvas and the agent must be two app registrations.
func TestTwoRegistrations(t *testing.T) {
	o := opts()
	o.AgentClientID = "C"
	if _, err := New(o); !errors.Is(err, ErrSameRegistration) {
		t.Fatalf("err = %v", err)
	}
	if _, err := New(opts()); err != nil {
		t.Fatal(err)
	}
}

// TestVendoredMSAL: the embedded MSAL.js files are those of the @azure/msal-browser
// version test/node pins (update both together: npm install in test/node, then copy
// lib/msal-browser.min.js and lib/redirect-bridge/msal-redirect-bridge.min.js).
func TestVendoredMSAL(t *testing.T) {
	dir := filepath.Join(testutil.NodeModules(t), "node_modules", "@azure", "msal-browser", "lib")
	for name, src := range map[string]string{"msal-browser.min.js": "msal-browser.min.js", "msal-redirect-bridge.min.js": "redirect-bridge/msal-redirect-bridge.min.js"} {
		want, err := os.ReadFile(filepath.Join(dir, src))
		if err != nil {
			t.Fatal(err)
		}
		got, _ := assets.ReadFile("assets/" + name)
		if !bytes.Equal(got, want) {
			t.Errorf("assets/%s differs from test/node's @azure/msal-browser %s", name, src)
		}
	}
}

// TestWebChatBundle: with WebChatDir the page loads Bot Framework Web Chat from
// /canvas/webchat/webchat.js, served from that folder (and nothing else of it); without, the
// page uses the stand-in and says so; a folder without the bundle is refused at start.
func TestWebChatBundle(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "webchat.js"), []byte("window.WebChat={};"), 0o644)
	os.WriteFile(filepath.Join(dir, "stats.json"), []byte("{}"), 0o644)
	for _, tc := range []struct {
		name, dir  string
		refused    bool
		page       []string
		bundleCode int
	}{
		{name: "real Web Chat", dir: dir, page: []string{`<script src="webchat/webchat.js">`, `data-chat="botframework-webchat"`}, bundleCode: 200},
		{name: "stand-in", page: []string{`data-chat="stand-in"`, `a minimal stand-in for Bot Framework Web Chat`, `--webchat-dir`}, bundleCode: 404},
		{name: "no bundle in the folder", dir: t.TempDir(), refused: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opts()
			o.WebChatDir = tc.dir
			s, err := New(o)
			if tc.refused {
				if err == nil || !strings.Contains(err.Error(), "webchat.js") {
					t.Fatalf("New = %v; want the missing bundle named", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			s.Mount(mux)
			srv := httptest.NewServer(mux)
			defer srv.Close()
			get := func(path string) (int, string) {
				resp, err := http.Get(srv.URL + path)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			_, page := get("/canvas/")
			for _, want := range tc.page {
				if !strings.Contains(page, want) {
					t.Errorf("the page lacks %q", want)
				}
			}
			if code, body := get("/canvas/webchat/webchat.js"); code != tc.bundleCode || code == 200 && body != "window.WebChat={};" {
				t.Errorf("webchat.js: %d %q", code, body)
			}
			if code, _ := get("/canvas/webchat/stats.json"); code == 200 {
				t.Error("another file of the folder was served")
			}
		})
	}
}
