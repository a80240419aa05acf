package client

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/mcpgate/mcpgate/internal/mcp"
)

// runBridgeConformance plays the non-auth client scenarios (initialize, tools_call, sse-retry,
// elicitation defaults) through the stdio Bridge, so the suite checks what `mcpgate stdio` puts
// on the wire: a tiny JSON-RPC client writes lines into the bridge and reads its output.
func runBridgeConformance(ctx context.Context, serverURL string, log *slog.Logger) error {
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	b := &Bridge{URL: serverURL, HTTP: &http.Client{}, In: inR, Out: outW, Logger: log}
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx); outW.Close() }()
	msgs := make(chan map[string]any, 64)
	go func() {
		sc := bufio.NewScanner(outR)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var m map[string]any
			if json.Unmarshal(sc.Bytes(), &m) == nil {
				msgs <- m
			}
		}
		close(msgs)
	}()
	send := func(v any) error {
		bs, _ := json.Marshal(v)
		_, err := inW.Write(append(bs, '\n'))
		return err
	}
	// call sends a request and waits for its response, answering server requests meanwhile.
	nextID := 0
	call := func(method string, params any) (map[string]any, error) {
		nextID++
		id := float64(nextID)
		if err := send(map[string]any{"jsonrpc": "2.0", "id": nextID, "method": method, "params": params}); err != nil {
			return nil, err
		}
		timeout := time.After(20 * time.Second)
		for {
			select {
			case m, ok := <-msgs:
				if !ok {
					return nil, errors.New("bridge output ended")
				}
				if meth, _ := m["method"].(string); meth != "" {
					if m["id"] != nil {
						send(answerServerRequest(meth, m))
					}
					continue
				}
				if m["id"] == id {
					if e, ok := m["error"]; ok {
						return nil, fmt.Errorf("%s: %v", method, e)
					}
					r, _ := m["result"].(map[string]any)
					return r, nil
				}
			case <-timeout:
				return nil, fmt.Errorf("%s: no response", method)
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	defer func() {
		inW.Close()
		<-done
	}()
	if _, err := call("initialize", map[string]any{
		"protocolVersion": LatestProtocolVersion,
		"capabilities":    map[string]any{"elicitation": map[string]any{}},
		"clientInfo":      map[string]any{"name": "mcpgate-stdio-conformance", "version": "1"},
	}); err != nil {
		return err
	}
	if err := send(map[string]any{"jsonrpc": "2.0", "method": "notifications/initialized"}); err != nil {
		return err
	}
	res, err := call("tools/list", map[string]any{})
	if err != nil {
		return err
	}
	tools, _ := res["tools"].([]any)
	for _, t := range tools {
		tm, _ := t.(map[string]any)
		name, _ := tm["name"].(string)
		args := map[string]any{}
		if name == "add_numbers" {
			args = map[string]any{"a": 2, "b": 3}
		}
		if _, err := call("tools/call", map[string]any{"name": name, "arguments": args}); err != nil {
			return err
		}
	}
	return nil
}

// answerServerRequest answers a server-to-client request: elicitation is accepted with the
// schema's defaults (SEP-1034), anything else gets "method not found".
func answerServerRequest(method string, m map[string]any) map[string]any {
	if method == "elicitation/create" {
		content := map[string]any{}
		p, _ := m["params"].(map[string]any)
		schema, _ := p["requestedSchema"].(map[string]any)
		props, _ := schema["properties"].(map[string]any)
		for k, v := range props {
			if d, ok := v.(map[string]any)["default"]; ok {
				content[k] = d
			}
		}
		return map[string]any{"jsonrpc": "2.0", "id": m["id"], "result": map[string]any{"action": "accept", "content": content}}
	}
	if method == "ping" {
		return map[string]any{"jsonrpc": "2.0", "id": m["id"], "result": map[string]any{}}
	}
	return map[string]any{"jsonrpc": "2.0", "id": m["id"], "error": map[string]any{"code": mcp.CodeMethodNotFound, "message": "method not found: " + method}}
}
