package demo_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/demo"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

var (
	runningLine = regexp.MustCompile(`mcpgate demo is running at (https://\S+) `)
)

// webChatEnv points the demo at Bot Framework Web Chat's bundle in test/node
// (botframework-webchat, installed with the other interop packages).
func webChatEnv(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(testutil.NodeModules(t), "node_modules", "botframework-webchat", "dist")
	if _, err := os.Stat(filepath.Join(dir, "webchat.js")); err != nil {
		testutil.Unavailable(t, "botframework-webchat is not installed in test/node")
	}
	return demo.WebChatDirEnv + "=" + dir
}

// startTLSDemo runs `mcpgate demo --tls` and returns its base URL and the demo passwords.
func startTLSDemo(t *testing.T, env ...string) (string, map[string]string) {
	t.Helper()
	bin, err := buildOnce()
	if err != nil {
		t.Fatalf("building mcpgate: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, "demo", "--tls", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir())
	cmd.Env = append(os.Environ(), env...)
	cmd.WaitDelay = 10 * time.Second
	stdout, _ := cmd.StdoutPipe()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cancel()
			<-done
		}
		cancel()
		if t.Failed() {
			t.Logf("demo stderr (tail): %s", tail(stderr.String(), 4000))
		}
	})
	base, pw := "", map[string]string{}
	sc := bufio.NewScanner(stdout)
	deadline := time.AfterFunc(60*time.Second, cancel)
	defer deadline.Stop()
	for sc.Scan() {
		line := sc.Text()
		if m := runningLine.FindStringSubmatch(line); m != nil {
			base = m[1]
		}
		if m := userLine.FindStringSubmatch(line); m != nil {
			pw[m[1]] = m[2]
		}
		if strings.Contains(line, "Press Ctrl+C") {
			break
		}
	}
	go func() {
		for sc.Scan() {
		}
	}()
	if base == "" || len(pw) != 2 {
		t.Fatalf("demo did not start (base %q): %s", base, tail(stderr.String(), 4000))
	}
	return base, pw
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

type canvasUser struct {
	UPN         string   `json:"upn"`
	Who         string   `json:"who"`
	Chat        string   `json:"chat"`
	Steps       []string `json:"steps"`
	SignInPages int      `json:"signInPages"`
	Answer      string   `json:"answer"`
	Card        bool     `json:"card"`
	Error       string   `json:"error"`
	Log         []string `json:"log"`
	Authorize   []struct {
		Prompt    string `json:"prompt"`
		MainFrame bool   `json:"mainFrame"`
		Claims    string `json:"claims"`
	} `json:"authorize"`
	Silent *struct {
		RefreshToken bool   `json:"refreshToken"`
		Iframe       bool   `json:"iframe"`
		SSOSilent    string `json:"ssoSilent"`
		IframeUser   string `json:"iframeUser"`
		Authorize    []struct {
			Prompt    string `json:"prompt"`
			MainFrame bool   `json:"mainFrame"`
		} `json:"authorize"`
	} `json:"silent"`
}

func runCanvas(t *testing.T, base string, users []map[string]string, silent bool) []canvasUser {
	t.Helper()
	nodeDir := testutil.NodeModules(t)
	chromium := testutil.Chromium(t)
	in, _ := json.Marshal(map[string]any{"nodeModules": nodeDir, "chromium": chromium, "base": base, "users": users,
		"question": "Who am I?", "silentChecks": silent})
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", filepath.Join("testdata", "canvas.mjs"))
	cmd.Stdin = bytes.NewReader(in)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser: %v\n%s", err, stderr.String())
	}
	var res struct {
		Users []canvasUser `json:"users"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	return res.Users
}

// TestCanvasSSO is the web-canvas scenario in Chromium: alice signs in once on the canvas
// page (msal-browser, the emulator's login page: password only, no MFA), asks the agent
// something that needs a tool, and the answer comes back as her — the agent got her token
// silently through the OAuth card's token exchange and called whoami through the gateway
// On-Behalf-Of her — with no card and no second sign-in page. acquireTokenSilent works
// through the refresh token and through the hidden iframe (prompt=none and the session
// cookie). Bob, in a fresh browser, gets his own identity.
func TestCanvasSSO(t *testing.T) {
	base, pw := startTLSDemo(t, webChatEnv(t))
	users := runCanvas(t, base, []map[string]string{
		{"upn": demo.ContosoUPN("alice"), "password": pw["alice"]},
		{"upn": demo.ContosoUPN("bob"), "password": pw["bob"]},
	}, true)
	for _, u := range users {
		t.Run(u.UPN, func(t *testing.T) {
			if u.Error != "" {
				t.Fatalf("%s\nconsole: %v", u.Error, u.Log)
			}
			if u.Chat != "botframework-webchat" {
				t.Fatalf("the page rendered %q, want Bot Framework Web Chat", u.Chat)
			}
			if !slices.Equal(u.Steps, []string{"password"}) || u.SignInPages != 1 {
				t.Fatalf("sign-in pages %v (want the password form once, no MFA, no consent)", u.Steps)
			}
			if u.Card {
				t.Fatalf("the OAuth card was shown; answer %q; console %v", u.Answer, u.Log)
			}
			if !strings.Contains(u.Answer, u.UPN) || !strings.Contains(u.Answer, "whoami") {
				t.Fatalf("answer %q does not show %s", u.Answer, u.UPN)
			}
			other := demo.ContosoUPN("bob")
			if u.UPN == other {
				other = demo.ContosoUPN("alice")
			}
			if strings.Contains(u.Answer, other) {
				t.Fatalf("answer %q shows the other user", u.Answer)
			}
			main := 0
			for _, a := range u.Authorize {
				if a.MainFrame {
					main++
				}
			}
			if main != 1 {
				t.Fatalf("%d authorization requests in the page, want the one sign-in: %+v", main, u.Authorize)
			}
			if u.UPN == demo.ContosoUPN("alice") {
				s := u.Silent
				if s == nil || !s.RefreshToken || !s.Iframe || s.SSOSilent != u.UPN || s.IframeUser != u.UPN {
					t.Fatalf("silent: %+v", s)
				}
				for _, a := range s.Authorize {
					if a.MainFrame || a.Prompt != "none" {
						t.Fatalf("a silent request was not a hidden prompt=none one: %+v", s.Authorize)
					}
				}
				if len(s.Authorize) < 2 {
					t.Fatalf("the iframe calls did not reach the emulator: %+v", s.Authorize)
				}
			}
		})
	}
}

// TestCanvasFallback: with the canvas app not authorized on the agent's scope (no "Add a
// client application", no permission), the silent token request fails and the page shows
// the OAuth card, as the article's middleware does.
func TestCanvasFallback(t *testing.T) {
	base, pw := startTLSDemo(t, demo.CanvasUnauthorizedEnv+"=1", webChatEnv(t))
	users := runCanvas(t, base, []map[string]string{{"upn": demo.ContosoUPN("alice"), "password": pw["alice"]}}, false)
	u := users[0]
	if u.Error != "" {
		t.Fatalf("%s\nconsole: %v", u.Error, u.Log)
	}
	if u.Chat != "botframework-webchat" || !u.Card || strings.Contains(u.Answer, "saw") {
		t.Fatalf("chat %q, card %v, answer %q; console %v", u.Chat, u.Card, u.Answer, u.Log)
	}
}
