package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mcpgate/mcpgate/internal/jsonlimit"
	"github.com/mcpgate/mcpgate/internal/mcp"
)

// Bridge connects a stdio MCP client to a Streamable HTTP MCP server: it reads
// newline-delimited JSON-RPC messages from In, POSTs each one to URL, and writes every message
// the server sends (JSON bodies and SSE events, on POST responses and on the GET stream) to Out
// unchanged, one per line. It keeps the Mcp-Session-Id and MCP-Protocol-Version headers,
// resumes interrupted SSE streams with Last-Event-ID, and logs only to Logger. A 2026-07-28
// message gets the headers that mirror its body (bridge_headers.go).
type Bridge struct {
	URL string
	// HTTP sends the requests; use Client.HTTPClient() so that they are signed in.
	HTTP   *http.Client
	In     io.Reader
	Out    io.Writer
	Logger *slog.Logger
	// RetryDelay is the wait before resuming a stream when the server sent no retry field
	// (default 1s).
	RetryDelay time.Duration
	// MaxResumes bounds consecutive failed stream reconnections (default 10).
	MaxResumes int

	outMu     sync.Mutex
	mu        sync.Mutex
	sessionID string
	protocol  string
	getOnce   sync.Once
	tools     toolBindings // bridge_headers.go: the tools' Mcp-Param-* bindings
}

type rpcHead struct {
	ID     json.RawMessage `json:"id,omitempty"`
	Method string          `json:"method,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

func (h rpcHead) isRequest() bool { return h.Method != "" && len(h.ID) > 0 && string(h.ID) != "null" }

func (b *Bridge) log() *slog.Logger {
	if b.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Logger
}

// Run bridges until In ends (then it ends the HTTP session) or ctx is cancelled.
func (b *Bridge) Run(ctx context.Context) error {
	if b.RetryDelay <= 0 {
		b.RetryDelay = time.Second
	}
	if b.MaxResumes <= 0 {
		b.MaxResumes = 10
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	r := bufio.NewReaderSize(b.In, 1<<20)
	var readErr error
	for {
		line, err := r.ReadBytes('\n')
		line = bytes.TrimSpace(line)
		if len(line) > 0 {
			b.handle(ctx, &wg, line)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = fmt.Errorf("reading stdin: %w", err)
			}
			break
		}
		if ctx.Err() != nil {
			break
		}
	}
	b.log().Info("stdin closed; finishing in-flight requests")
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		b.log().Warn("in-flight requests did not finish within 30s of stdin closing")
	case <-ctx.Done():
	}
	cancel()
	b.endSession()
	return readErr
}

func (b *Bridge) handle(ctx context.Context, wg *sync.WaitGroup, line []byte) {
	var h rpcHead
	if err := json.Unmarshal(line, &h); err != nil {
		// Not one JSON-RPC object (maybe a legacy batch): pass it on unchanged.
		if !json.Valid(line) {
			b.log().Warn("stdin line is not JSON; answering with a parse error", "bytes", len(line))
			b.write([]byte(`{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"mcpgate stdio: parse error: a line on stdin is not JSON"}}`))
			return
		}
	}
	switch {
	case h.Method == "initialize":
		// Synchronous: the session id must be known before the next message.
		b.post(ctx, line, h)
	case h.isRequest():
		wg.Add(1)
		go func() { defer wg.Done(); b.post(ctx, line, h) }()
	default:
		b.post(ctx, line, h)
		if h.Method == "notifications/initialized" {
			// Open the GET stream before relaying anything else: servers drop messages for
			// the standalone stream while none is open, and a request sent next may make the
			// server send one (an elicitation, say).
			b.getOnce.Do(func() {
				ready := make(chan struct{})
				go b.listen(ctx, ready)
				select {
				case <-ready:
				case <-time.After(2 * time.Second):
					b.log().Debug("GET stream not open after 2s; continuing")
				case <-ctx.Done():
				}
			})
		}
	}
}

func (b *Bridge) setHeaders(req *http.Request) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.sessionID != "" {
		req.Header.Set("Mcp-Session-Id", b.sessionID)
	}
	if b.protocol != "" {
		req.Header.Set("MCP-Protocol-Version", b.protocol)
	}
}

// post sends one message and relays what comes back.
func (b *Bridge) post(ctx context.Context, line []byte, h rpcHead) {
	log := b.log().With("method", h.Method, "id", string(h.ID))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, b.URL, bytes.NewReader(line))
	if err != nil {
		b.fail(h, mcp.CodeInternalError, err.Error())
		return
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	b.setHeaders(req)
	b.setMCPHeaders(ctx, req.Header, line) // bridge_headers.go: 2026-07-28 headers from the body
	resp, err := b.HTTP.Do(req)
	if err != nil {
		log.Error("POST failed", "err", err)
		b.fail(h, mcp.CodeServerError, fmt.Sprintf("mcpgate stdio: could not reach %s: %v", b.URL, err))
		return
	}
	defer resp.Body.Close()
	if h.Method == "initialize" {
		if sid := resp.Header.Get("Mcp-Session-Id"); sid != "" {
			b.mu.Lock()
			b.sessionID = sid
			b.mu.Unlock()
			log.Info("session started", "session", tokenID(sid))
		}
	}
	switch {
	case resp.StatusCode == http.StatusAccepted || resp.StatusCode == http.StatusNoContent:
		return
	case resp.StatusCode == http.StatusNotFound && b.hasSession():
		log.Warn("the server ended the session (404); the client must initialize again")
		b.mu.Lock()
		b.sessionID = ""
		b.mu.Unlock()
		b.fail(h, mcp.CodeUnauthorized, "mcpgate stdio: the server's session expired (HTTP 404); reconnect to start a new session")
		return
	case resp.StatusCode/100 != 2:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		msg := fmt.Sprintf("mcpgate stdio: the server answered HTTP %d", resp.StatusCode)
		if ch := ParseChallenge(resp.Header); ch.Error != "" {
			msg += " (" + ch.Error + ": " + ch.Description + ")"
		} else if s := strings.TrimSpace(string(body)); s != "" && len(s) < 300 {
			msg += ": " + s
		}
		log.Warn("request rejected", "status", resp.StatusCode)
		b.fail(h, mcp.CodeServerError, msg)
		return
	}
	ct := resp.Header.Get("Content-Type")
	if strings.HasPrefix(ct, "text/event-stream") {
		b.relayStream(ctx, resp, h, log)
		return
	}
	// MCP results can be large (tool output), so the byte cap is generous; the depth cap
	// protects the decoders that look at the message.
	body, err := jsonlimit.Read(resp.Body, maxMCPResponseBytes, jsonlimit.Limits{MaxValues: -1})
	if err != nil {
		b.fail(h, mcp.CodeServerError, "mcpgate stdio: reading the response: "+err.Error())
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return
	}
	b.noteMessage(h, body)
	b.write(body)
}

func (b *Bridge) hasSession() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.sessionID != ""
}

// noteMessage learns the protocol version from the initialize response, and the tools'
// Mcp-Param-* bindings from a tools/list response.
func (b *Bridge) noteMessage(h rpcHead, msg []byte) {
	b.noteTools(h, msg)
	if h.Method != "initialize" {
		return
	}
	var r struct {
		ID     json.RawMessage `json:"id"`
		Result struct {
			ProtocolVersion string `json:"protocolVersion"`
		} `json:"result"`
	}
	if json.Unmarshal(msg, &r) == nil && bytes.Equal(r.ID, h.ID) && r.Result.ProtocolVersion != "" {
		b.mu.Lock()
		b.protocol = r.Result.ProtocolVersion
		b.mu.Unlock()
	}
}

// relayStream relays an SSE response to a POST and, if it ends before the response to the
// request arrived, resumes it with GET + Last-Event-ID (SEP-1699).
func (b *Bridge) relayStream(ctx context.Context, resp *http.Response, h rpcHead, log *slog.Logger) {
	st := &sseState{retry: b.RetryDelay}
	answered := b.readSSE(resp.Body, st, h)
	failures := 0
	for !answered && h.isRequest() && ctx.Err() == nil {
		if st.lastID == "" {
			log.Warn("the response stream ended without a response and cannot be resumed (no event id)")
			b.fail(h, mcp.CodeServerError, "mcpgate stdio: the server closed the response stream before answering")
			return
		}
		if failures >= b.MaxResumes {
			b.fail(h, mcp.CodeServerError, "mcpgate stdio: could not resume the response stream")
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(st.retry):
		}
		log.Info("resuming the response stream", "last_event_id", st.lastID)
		r, err := b.get(ctx, st.lastID)
		if err != nil || r.StatusCode != http.StatusOK {
			failures++
			if r != nil {
				log.Warn("resume failed", "status", r.StatusCode)
				drain(r)
			} else {
				log.Warn("resume failed", "err", err)
			}
			continue
		}
		failures = 0
		answered = b.readSSE(r.Body, st, h)
		r.Body.Close()
	}
}

func (b *Bridge) get(ctx context.Context, lastEventID string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	b.setHeaders(req)
	return b.HTTP.Do(req)
}

// listen keeps the server-initiated GET stream open, resuming it when it drops.
// ready is closed once the first attempt has an answer (open, refused or failed).
func (b *Bridge) listen(ctx context.Context, ready chan struct{}) {
	log := b.log().With("stream", "GET")
	st := &sseState{retry: b.RetryDelay}
	failures := 0
	var readyOnce sync.Once
	signal := func() { readyOnce.Do(func() { close(ready) }) }
	defer signal()
	for ctx.Err() == nil {
		resp, err := b.get(ctx, st.lastID)
		signal()
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			failures++
			log.Warn("GET stream failed", "err", err)
		case resp.StatusCode == http.StatusMethodNotAllowed:
			drain(resp)
			log.Info("the server offers no GET stream (405)")
			return
		case resp.StatusCode == http.StatusNotFound:
			drain(resp)
			log.Info("GET stream: session ended (404)")
			return
		case resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream"):
			drain(resp)
			failures++
			log.Warn("GET stream refused", "status", resp.StatusCode)
		default:
			failures = 0
			log.Debug("GET stream open")
			b.readSSE(resp.Body, st, rpcHead{})
			resp.Body.Close()
		}
		if failures >= b.MaxResumes {
			log.Error("giving up on the GET stream", "failures", failures)
			return
		}
		wait := st.retry
		if failures > 0 {
			wait = min(st.retry*time.Duration(1<<min(failures, 5)), 30*time.Second)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

type sseState struct {
	lastID string
	retry  time.Duration
}

// readSSE relays the events of one SSE body and reports whether the response to h arrived.
func (b *Bridge) readSSE(body io.Reader, st *sseState, h rpcHead) (answered bool) {
	r := bufio.NewReaderSize(body, 64<<10)
	var data bytes.Buffer
	hasData := false
	dispatch := func() {
		if !hasData {
			return
		}
		msg := bytes.TrimSpace(data.Bytes())
		data.Reset()
		hasData = false
		if len(msg) == 0 {
			return
		}
		b.noteMessage(h, msg)
		b.write(msg)
		if len(h.ID) > 0 {
			var m rpcHead
			if json.Unmarshal(msg, &m) == nil && m.Method == "" && bytes.Equal(m.ID, h.ID) {
				answered = true
			}
		}
	}
	for {
		line, err := r.ReadString('\n')
		if err != nil && line == "" {
			dispatch()
			return answered
		}
		line = strings.TrimRight(line, "\r\n")
		if line == "" {
			dispatch()
			if answered {
				return true
			}
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.WriteString(value)
			hasData = true
		case "id":
			if !strings.ContainsRune(value, 0) {
				st.lastID = value
			}
		case "retry":
			if n, err := strconv.Atoi(value); err == nil && n >= 0 {
				st.retry = time.Duration(n) * time.Millisecond
			}
		}
		if err != nil {
			dispatch()
			return answered
		}
	}
}

// write emits one message on Out as a single line (compacting it if it spans lines).
func (b *Bridge) write(msg []byte) {
	msg = bytes.TrimSpace(msg)
	if bytes.ContainsAny(msg, "\r\n") {
		var buf bytes.Buffer
		if json.Compact(&buf, msg) == nil {
			msg = buf.Bytes()
		}
	}
	b.outMu.Lock()
	defer b.outMu.Unlock()
	b.Out.Write(append(msg, '\n'))
}

// fail answers a request with a JSON-RPC error so the stdio client is not left waiting.
func (b *Bridge) fail(h rpcHead, code int, msg string) {
	if !h.isRequest() {
		return
	}
	out, _ := json.Marshal(map[string]any{
		"jsonrpc": "2.0", "id": h.ID,
		"error": map[string]any{"code": code, "message": msg},
	})
	b.write(out)
}

// endSession DELETEs the HTTP session (405 is fine).
func (b *Bridge) endSession() {
	if !b.hasSession() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, b.URL, nil)
	if err != nil {
		return
	}
	b.setHeaders(req)
	if resp, err := b.HTTP.Do(req); err == nil {
		drain(resp)
		b.log().Info("session ended", "status", resp.StatusCode)
	}
}
