package canvas

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The connection between the page and the agent speaks Direct Line 3.0's shapes (the Bot
// Framework channel Web Chat uses): start a conversation, post activities, receive
// ActivitySets with watermarks. The stream is Server-Sent Events instead of a WebSocket, so
// the page's DirectLine object (assets/canvas.js) is a small custom one with DirectLineJS's
// interface (activity$, connectionStatus$, postActivity) — which Web Chat accepts as its
// directLine option.

// Activity is the subset of a Bot Framework activity the canvas uses.
type Activity struct {
	Type        string          `json:"type"`
	ID          string          `json:"id,omitempty"`
	Timestamp   string          `json:"timestamp,omitempty"`
	From        Account         `json:"from"`
	Name        string          `json:"name,omitempty"`
	Text        string          `json:"text,omitempty"`
	Value       json.RawMessage `json:"value,omitempty"`
	Attachments []Attachment    `json:"attachments,omitempty"`
	ReplyToID   string          `json:"replyToId,omitempty"`
	// ChannelData is echoed back: Web Chat matches its clientActivityID to mark a message
	// sent.
	ChannelData json.RawMessage `json:"channelData,omitempty"`
	Locale      string          `json:"locale,omitempty"`
	TextFormat  string          `json:"textFormat,omitempty"`
}

// Account is an activity's from.
type Account struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
	Role string `json:"role,omitempty"`
}

// Attachment is a card.
type Attachment struct {
	ContentType string `json:"contentType"`
	Content     any    `json:"content"`
}

// conversation is one chat: its token, the activities so far and the listeners.
type conversation struct {
	id, token string
	mu        sync.Mutex
	acts      []Activity
	notify    chan struct{} // closed and replaced on every new activity
	// Agent state.
	pendingText string // the message waiting for the user's token
	exchangeID  string // tokenExchangeResource.id of the card sent
	created     time.Time
}

func (c *conversation) add(a Activity) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	a.ID = c.id + "|" + strconv.Itoa(len(c.acts))
	a.Timestamp = time.Now().UTC().Format(time.RFC3339Nano)
	c.acts = append(c.acts, a)
	close(c.notify)
	c.notify = make(chan struct{})
	return a.ID
}

func (c *conversation) since(w int) ([]Activity, int, chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w > len(c.acts) {
		w = len(c.acts)
	}
	return append([]Activity(nil), c.acts[w:]...), len(c.acts), c.notify
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

const maxConversations = 1000

func (s *Server) handleStart(w http.ResponseWriter, r *http.Request) {
	c := &conversation{id: randHex(16), token: randHex(24), notify: make(chan struct{}), created: time.Now()}
	s.mu.Lock()
	if len(s.convs) >= maxConversations {
		for id, old := range s.convs {
			if time.Since(old.created) > time.Hour {
				delete(s.convs, id)
			}
		}
	}
	if len(s.convs) >= maxConversations {
		s.mu.Unlock()
		http.Error(w, "too many conversations", http.StatusServiceUnavailable)
		return
	}
	s.convs[c.id] = c
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"conversationId": c.id, "token": c.token, "expires_in": 3600})
}

// conversationFor finds the conversation and checks its token (Authorization: Bearer, or
// ?t= for the event stream, which EventSource cannot give headers).
func (s *Server) conversationFor(r *http.Request) *conversation {
	s.mu.Lock()
	c := s.convs[r.PathValue("id")]
	s.mu.Unlock()
	if c == nil {
		return nil
	}
	tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if tok == "" {
		tok = r.URL.Query().Get("t")
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(c.token)) != 1 {
		return nil
	}
	return c
}

func (s *Server) handleStream(w http.ResponseWriter, r *http.Request) {
	c := s.conversationFor(r)
	if c == nil {
		http.Error(w, "unknown conversation", http.StatusForbidden)
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	wm, _ := strconv.Atoi(r.URL.Query().Get("watermark"))
	fmt.Fprint(w, ": connected\n\n")
	fl.Flush()
	for {
		acts, next, ch := c.since(wm)
		if len(acts) > 0 {
			b, _ := json.Marshal(map[string]any{"activities": acts, "watermark": strconv.Itoa(next)})
			fmt.Fprintf(w, "data: %s\n\n", b)
			fl.Flush()
			wm = next
		}
		select {
		case <-ch:
		case <-time.After(25 * time.Second):
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		case <-r.Context().Done():
			return
		}
	}
}

func (s *Server) handlePost(w http.ResponseWriter, r *http.Request) {
	c := s.conversationFor(r)
	if c == nil {
		http.Error(w, "unknown conversation", http.StatusForbidden)
		return
	}
	var a Activity
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&a); err != nil {
		http.Error(w, "bad activity", http.StatusBadRequest)
		return
	}
	a.From.Role = "user"
	if a.Type == "invoke" {
		// Invokes are not echoed; their answer is the HTTP answer (the bot's InvokeResponse),
		// as Direct Line relays it: 200 means handled, anything else makes the page show the
		// card (DirectLineJS turns a 5xx into "retry" and a 4xx into an error).
		ctx, cancel := context.WithTimeout(r.Context(), 60*time.Second)
		defer cancel()
		status, body := s.agent.invoke(ctx, c, a)
		if status != http.StatusOK {
			writeJSON(w, status, body)
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"id": c.id + "|invoke"})
		return
	}
	id := c.add(a) // the echo, as Direct Line sends the user's own activities back
	go s.agent.onActivity(context.WithoutCancel(r.Context()), c, a)
	writeJSON(w, http.StatusOK, map[string]string{"id": id})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
