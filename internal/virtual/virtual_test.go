package virtual_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/gateway"
	"github.com/mcpgate/mcpgate/internal/testutil"
	"github.com/mcpgate/mcpgate/internal/virtual"
)

// ---- upstreams: real go-sdk servers on loopback, and a stdio server built from testdata

type echoIn struct {
	Text string `json:"text"`
}

// newHTTPUpstream serves a go-sdk server whose echo tool answers "<name>:<text>". With
// key set, every request must carry X-Upstream-Key: <key>-<user> (see keyCredentials).
// While down is true it answers 503.
func newHTTPUpstream(t *testing.T, name string, key bool, down *atomic.Bool) *httptest.Server {
	t.Helper()
	s := mcp.NewServer(&mcp.Implementation{Name: name, Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "echo"}, func(ctx context.Context, _ *mcp.CallToolRequest, in echoIn) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + ":" + in.Text}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "delete_all"}, func(ctx context.Context, _ *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + " deleted everything"}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "slow"}, func(ctx context.Context, req *mcp.CallToolRequest, _ struct{}) (*mcp.CallToolResult, any, error) {
		if tok := req.Params.GetProgressToken(); tok != nil {
			for i := 1; i <= 2; i++ {
				_ = req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{ProgressToken: tok, Progress: float64(i), Total: 2})
				time.Sleep(50 * time.Millisecond) // the SDK client handles notifications concurrently with the result: progress after the result is lost
			}
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "done"}}}, nil, nil
	})
	s.AddPrompt(&mcp.Prompt{Name: "greet"}, func(ctx context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		return &mcp.GetPromptResult{Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: name + " says hello"}}}}, nil
	})
	s.AddResourceTemplate(&mcp.ResourceTemplate{Name: "doc", URITemplate: name + "://doc/{name}"},
		func(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
			return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: req.Params.URI, Text: name + " document"}}}, nil
		})
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down != nil && down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if key && !strings.HasPrefix(r.Header.Get("X-Upstream-Key"), name+"-") {
			http.Error(w, "no key", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// keyCredentials gives each user their own key for an upstream, as a provider would.
func keyCredentials(name string) gateway.UpstreamCredentials {
	return gateway.UpstreamCredentialsFunc(func(ctx context.Context, p *authn.Principal, r *http.Request) (http.Header, error) {
		if p == nil {
			return nil, errors.New("no user")
		}
		return http.Header{"X-Upstream-Key": {name + "-" + p.Subject}}, nil
	})
}

var (
	buildOnce sync.Once
	stdioBin  string
	buildErr  error
)

// stdioServer compiles testdata/stdioserver once per test binary.
func stdioServer(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := filepath.Abs(filepath.Join("testdata", "stdioserver"))
		if err != nil {
			buildErr = err
			return
		}
		bin := filepath.Join(stdioTmp, "stdioserver")
		if runtime.GOOS == "windows" {
			bin += ".exe"
		}
		out, err := exec.Command("go", "build", "-o", bin, dir).CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		stdioBin = bin
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return stdioBin
}

// ---- the gateway in front of a virtual server, and clients

type logBuf = testutil.SyncBuffer

// newGateway serves a virtual server on a strict route whose tokens are user names,
// optionally followed by +group for each of the user's groups.
func newGateway(t *testing.T, o virtual.Options) (string, *virtual.Server, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.Route = "virt"
	vs, err := virtual.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vs.Close() })
	verifier := authn.VerifierFunc(func(ctx context.Context, token string) (*authn.Principal, error) {
		sub, groups, _ := strings.Cut(token, "+") // "carol+ops+eng": carol in groups ops and eng
		p := &authn.Principal{Issuer: "https://idp.test", Subject: sub}
		if groups != "" {
			p.Groups = strings.Split(groups, "+")
		}
		return p, nil
	})
	gw, err := gateway.New(gateway.Options{Routes: []gateway.RouteOptions{{Name: "virt", Path: "/mcp", Handler: vs.Handler(), Verifier: verifier}}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(gw.Handler())
	t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
	return srv.URL + "/mcp", vs, logs
}

type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func connect(t *testing.T, url, user string, opts *mcp.ClientOptions) *mcp.ClientSession {
	t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, opts)
	cs, err := c.Connect(context.Background(), &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &http.Client{Transport: bearer{user}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func toolNames(t *testing.T, cs *mcp.ClientSession) ([]string, *mcp.ListToolsResult) {
	t.Helper()
	res, err := cs.ListTools(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	return names, res
}

func call(t *testing.T, cs *mcp.ClientSession, name string, args any) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String(), nil
}
