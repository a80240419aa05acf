package gateway

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/jsonlimit"
	"github.com/mcpgate/mcpgate/internal/mcp"
	"github.com/mcpgate/mcpgate/internal/secrets"
)

// Input requests the gateway makes itself (2026-07-28 multi round-trip requests).
//
// When a tools/call, prompts/get or resources/read cannot go upstream until the user does
// something in a browser (a CredentialError whose Response has Input: connect an account),
// a 2026-07-28 client that declares URL elicitation gets an input-required result: the
// URL as a URL elicitation, and a requestState of the gateway's own. The client sends the
// user to the URL and retries the request with that requestState; the gateway then looks
// again (the credential is obtained as for any call) and either forwards the call or asks
// again. Earlier versions keep their answers (-32042 on 2025-11-25, a tool error before).
//
// The gateway's requestState is "mcpgate.rs1." followed by a value sealed with
// RequestStateKeys (AES-256-GCM, secrets.Keyring). It holds whose it is (the
// issuer+subject+client key that owns sessions), the route, the method and tool / prompt
// / uri of the request (and a digest of a tool call's arguments), an expiry, and the upstream's own requestState and
// inputResponses of the request it interrupted, if any. On a retry carrying it the
// gateway opens it, refuses it (JSON-RPC -32602) when it does not open, has expired, or
// was issued to another principal, route or request, and sends the upstream the request
// with the upstream's own requestState and inputResponses back in place of the gateway's:
// the upstream never sees a state that is not its own. A requestState without the prefix
// is the upstream's, and passes both ways untouched, as do the upstream's input-required
// results.

const (
	// statePrefix starts every requestState the gateway issues, and none an upstream's
	// (an upstream that chose it would only break its own retries: they do not open).
	statePrefix = "mcpgate.rs1."
	// stateAAD binds sealed states to this use of the keys.
	stateAAD = "mcpgate/requestState/v1"
	// maxStateLen bounds a requestState the gateway tries to open.
	maxStateLen = 96 << 10
	// maxWrapped bounds the upstream's state and responses carried inside the gateway's:
	// larger ones are dropped, and the upstream asks for them again.
	maxWrapped = 32 << 10
	// defaultStateTTL is how long the user has to connect before the client retries.
	defaultStateTTL = 15 * time.Minute
	// defaultInputWait and inputPoll: how long, and how often, a retry whose user accepted
	// looks for the condition to be met before it is asked again.
	defaultInputWait = 30 * time.Second
	inputPoll        = 2 * time.Second
)

// URLInput is something the user must do in a browser before a call can succeed (for
// example connect their account). See Response.Input.
type URLInput struct {
	// ID names the input request; the same cause gives the same ID.
	ID string
	// URL is the page to open; Message says why, in one sentence.
	URL, Message string
}

// stateSealer seals and opens the gateway's requestState.
type stateSealer struct {
	keys *secrets.Keyring
	ttl  time.Duration
	wait time.Duration // Options.InputWait (0: no wait)
}

func (s *stateSealer) init(keys *secrets.Keyring, ttl, wait time.Duration) error {
	s.keys, s.ttl, s.wait = keys, ttl, wait
	if s.ttl <= 0 {
		s.ttl = defaultStateTTL
	}
	switch {
	case s.wait == 0:
		s.wait = defaultInputWait
	case s.wait < 0:
		s.wait = 0
	}
	if s.keys == nil {
		k := make([]byte, secrets.KeySize)
		if _, err := rand.Read(k); err != nil {
			return fmt.Errorf("gateway: making the request state key: %w", err)
		}
		var err error
		if s.keys, err = secrets.NewKeyring("process", secrets.Key{ID: "process", Material: k}); err != nil {
			return fmt.Errorf("gateway: making the request state key: %w", err)
		}
	}
	return nil
}

// inputState is what the gateway's requestState holds.
type inputState struct {
	Owner  string `json:"o"` // sessionKeys.owner(): issuer, subject and client, hashed
	Route  string `json:"r"`
	Method string `json:"m"`
	Target string `json:"t"`           // the tool, prompt or uri
	Args   string `json:"a,omitempty"` // argsDigest of a tools/call's arguments
	Key    string `json:"k"`           // the inputRequests key the gateway asked under
	Exp    int64  `json:"e"`           // Unix seconds
	// UpState and UpResponses are the upstream's requestState and inputResponses of the
	// interrupted request, given back to the upstream on the retry.
	UpState     string          `json:"us,omitempty"`
	UpResponses json.RawMessage `json:"ur,omitempty"`
}

// stateError is a refused requestState: Reason for audit, Message for the client.
type stateError struct{ Reason, Message string }

func (e *stateError) Error() string { return e.Message }

var errStateInvalid = &stateError{"request_state_invalid", "it is not a request state this gateway issued, or it was altered"}

// seal returns st as a requestState.
func (s *stateSealer) seal(st inputState) (string, error) {
	b, err := json.Marshal(st)
	if err != nil {
		return "", err
	}
	sealed, err := s.keys.Seal(b, []byte(stateAAD))
	if err != nil {
		return "", err
	}
	return statePrefix + sealed, nil
}

// open returns the state a requestState of the gateway holds, checked for integrity and
// expiry at now (not yet for whom it was issued: see inputState.check).
func (s *stateSealer) open(raw string, now time.Time) (inputState, error) {
	rest, ok := strings.CutPrefix(raw, statePrefix)
	if !ok || len(raw) > maxStateLen {
		return inputState{}, errStateInvalid
	}
	b, err := s.keys.Open(rest, []byte(stateAAD))
	if err != nil {
		if errors.Is(err, secrets.ErrUnknownKey) {
			return inputState{}, &stateError{"request_state_invalid", "it was sealed with a key this gateway no longer has"}
		}
		return inputState{}, errStateInvalid
	}
	var st inputState
	if json.Unmarshal(b, &st) != nil || st.Owner == "" || st.Key == "" {
		return inputState{}, errStateInvalid
	}
	if now.Unix() >= st.Exp {
		return inputState{}, &stateError{"request_state_expired", "it has expired (it is valid for " + s.ttl.String() + ")"}
	}
	return st, nil
}

// check refuses a state issued to another principal, or for another route or request
// (args is argsDigest of the request's arguments).
func (st *inputState) check(owner, route, method, target, args string) error {
	switch {
	case st.Owner != owner:
		return &stateError{"request_state_other_user", "it was issued to another user or client"}
	case st.Route != route:
		return &stateError{"request_state_other_route", "it was issued for another route"}
	case st.Method != method || st.Target != target || st.Args != args:
		return &stateError{"request_state_other_request", "it was issued for another request (method, tool, prompt, resource or arguments)"}
	}
	return nil
}

// argsDigest identifies a tools/call's arguments whatever their formatting (member order,
// spaces): a state is bound to the call it interrupted, as 2026-07-28 advises ("a digest of
// its salient parameters"). "" for none.
func argsDigest(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	b := []byte(raw)
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber() // numbers keep their digits: 10000000000000001 is not 10000000000000000
	if d.Decode(&v) == nil {
		if c, err := json.Marshal(v); err == nil { // maps marshal with sorted keys
			b = c
		}
	}
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}

// resumeInput takes the gateway's requestState off a retried request: it checks it, and
// puts back the upstream's own requestState and inputResponses of the interrupted
// request (or removes both), so that the policy and the upstream see the request the
// upstream will act on. It returns false when it has answered (a refused state).
func (rt *route) resumeInput(w http.ResponseWriter, r *http.Request, rec *Event, call *Call, body *[]byte) bool {
	if r.Method != http.MethodPost || call.Batch || len(call.Messages) != 1 || !mcp.InputMethod(call.Messages[0].Method) {
		return true
	}
	m := &call.Messages[0]
	if !bytes.Contains(m.Params, []byte(statePrefix)) && !bytes.Contains(m.Params, []byte(`\u`)) {
		return true // the usual case, found without decoding (the prefix can only be spelled otherwise with \u escapes)
	}
	in := m.Input()
	if !strings.HasPrefix(in.RequestState, statePrefix) {
		return true // none, or the upstream's own
	}
	st, err := rt.s.states.open(in.RequestState, time.Now())
	if err == nil {
		err = st.check(rec.keys.owner(), rt.opts.Name, m.Method, m.Target(), argsDigest(m.Arguments))
	}
	var nb []byte
	if err == nil {
		nb, err = mcp.WithInput(m.Raw, st.UpState, st.UpResponses)
	}
	var msgs []mcp.Request
	if err == nil {
		var batch bool
		if msgs, batch, err = mcp.ParseRequest(nb, rt.opts.JSONLimits); err == nil && (batch || len(msgs) != 1) {
			err = mcp.ErrNotJSONRPC
		}
	}
	if err != nil {
		var se *stateError
		if !errors.As(err, &se) {
			var le *jsonlimit.Error
			se = &stateError{"request_state_invalid", "the request could not be restored from it"}
			if errors.As(err, &le) {
				se.Message += " (" + le.Error() + ")"
			}
		}
		rec.Reasons = append(rec.Reasons, se.Reason)
		rt.s.log.InfoContext(r.Context(), "request state refused", "route", rt.opts.Name, "reason", se.Reason)
		rt.jsonrpcErrorCode(w, rec, http.StatusOK, m.ID, se.Reason, mcp.CodeInvalidParams,
			"route "+quoteName(rt.opts.Name)+": the requestState of this retry was refused: "+se.Message+"; send the request again without requestState and inputResponses")
		return false
	}
	call.inputAction = mcp.InputAction(in.InputResponses, st.Key)
	*body = nb
	call.Messages = msgs
	rec.Messages = msgs
	m = &msgs[0]
	rec.Tool, rec.URI, rec.Prompt, rec.Arguments = m.Tool, m.URI, m.Prompt, m.Arguments
	rec.Reasons = append(rec.Reasons, "input_resumed")
	return true
}

// askInput answers a call the user must act for with an input-required result (URL
// elicitation and a sealed requestState), when the call and the client allow it: a
// 2026-07-28 tools/call, prompts/get or resources/read from a client that declares URL
// elicitation, whose user did not just decline the same request. It returns false,
// having written nothing, otherwise.
func (rt *route) askInput(w http.ResponseWriter, r *http.Request, rec *Event, call *Call, in *URLInput) bool {
	key, state, ok := rt.inputRequired(r.Context(), rec.keys.owner(), call, in)
	if !ok {
		return false
	}
	res := mcp.URLInputRequired(key, in.Message, in.URL, state)
	rec.Reasons = append(rec.Reasons, "input_required")
	rec.Status = http.StatusOK
	writeRaw(w, http.StatusOK, mcp.ResultResponse(call.Messages[0].ID, res))
	return true
}

// inputRequired seals the requestState of an input-required result that asks the user of
// call to act (a URL elicitation under key), when the call and the client allow it (see
// askInput); false otherwise.
func (rt *route) inputRequired(ctx context.Context, owner string, call *Call, in *URLInput) (key, state string, ok bool) {
	if in == nil || call.Batch || len(call.Messages) != 1 {
		return "", "", false
	}
	m := &call.Messages[0]
	if len(m.ID) == 0 || !mcp.InputMethod(m.Method) || !mcp.Stateless(call.ProtocolVersion()) {
		return "", "", false
	}
	params := m.Input()
	if !params.URLElicitation || call.inputAction == "decline" || call.inputAction == "cancel" {
		return "", "", false
	}
	key = in.ID
	if key == "" {
		key = "mcpgate-input"
	}
	st := inputState{Owner: owner, Route: rt.opts.Name, Method: m.Method, Target: m.Target(), Args: argsDigest(m.Arguments),
		Key: key, Exp: time.Now().Add(rt.s.states.ttl).Unix()}
	if len(params.RequestState)+len(params.InputResponses) <= maxWrapped {
		st.UpState, st.UpResponses = params.RequestState, params.InputResponses
	}
	state, err := rt.s.states.seal(st)
	if err != nil {
		rt.s.log.ErrorContext(ctx, "sealing a request state failed", "route", rt.opts.Name, "err", err)
		return "", "", false
	}
	return key, state, true
}

// awaitInput holds a retry whose user accepted the gateway's input request while the
// credential error err still asks the user to act (the account is not connected yet: the
// client retried as soon as the browser opened): it asks creds again (awaitUser). It
// returns what the last attempt returned.
func (rt *route) awaitInput(ctx context.Context, r *http.Request, call *Call, creds UpstreamCredentials, err error) (http.Header, error) {
	var h http.Header
	err = rt.awaitUser(ctx, call, err, func() error {
		var e error
		h, e = creds.UpstreamHeaders(ctx, call.Principal, r)
		return e
	})
	return h, err
}

// awaitUser: when call retries the gateway's input request with the user's "accept" and
// err still asks the user to act, try runs again every inputPoll until it succeeds, fails
// otherwise, the wait (Options.InputWait) is over or ctx ends; it returns the last error.
// Anything else returns err at once.
func (rt *route) awaitUser(ctx context.Context, call *Call, err error, try func() error) error {
	wait := rt.s.states.wait
	if call.inputAction != "accept" || wait <= 0 || !asksUser(call, err) {
		return err
	}
	rt.s.log.DebugContext(ctx, "waiting for the user to finish what the gateway asked", "route", rt.opts.Name, "max", wait)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(inputPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return err
		case <-deadline.C:
			return err
		case <-tick.C:
		}
		if err = try(); err == nil || !asksUser(call, err) {
			return err
		}
	}
}

// asksUser reports whether a credential error asks the user to do something (its Response
// has Input).
func asksUser(call *Call, err error) bool {
	var ce CredentialError
	return errors.As(err, &ce) && ce.GatewayResponse(call).Input != nil
}
