package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/sync/singleflight"

	"github.com/mcpgate/mcpgate/internal/store"
)

// Access-token revocation, as every verifier of this server sees it.
//
// Checking a token never reads the store: each Server keeps the revocation list in memory
// (jti → the token's expiry) and keeps it current two ways:
//
//   - Polling: the store is asked for the revocations stored since the last successful
//     poll (store.RevokedAccessTokensSince), at most RevocationPollInterval apart (default
//     5s). RunRevocationSync polls in the background (every half interval) and checks never
//     touch the store; without it, the first check after an interval polls inline (one poll
//     for all waiting checks, bounded by revocationInlineTimeout: on a network that drops
//     packets, checks wait up to 1s once per interval). Either way a revocation stored by
//     any replica is enforced by every replica at most one poll interval (plus the poll's
//     duration) after it was stored.
//   - Redis pub/sub, when RunRevocationSync is given a Redis client: a replica that revokes
//     publishes the jti on RevocationChannel and every subscribed replica adds it at once
//     (milliseconds). Polling still runs and covers messages lost while Redis was away.
//
// When the store is unreachable, the list stays as it was at the last successful poll:
// tokens that were valid keep working, tokens revoked before the outage (or announced over
// Redis during it) stay refused, and a warning naming the store error is logged at most
// once a minute. RevocationHealth reports the list as stale once the last successful poll
// is older than three intervals.
const (
	// DefaultRevocationPollInterval is the default of Options.RevocationPollInterval.
	DefaultRevocationPollInterval = 5 * time.Second
	// RevocationChannel is the Redis pub/sub channel of revocations. A message is a JSON
	// array of {"jti": ..., "exp": <unix seconds>}, the revocations of one event (a replay,
	// a sign-out ...); a jti is an identifier, not a credential.
	RevocationChannel = "mcpgate:authserver:revoked-access-tokens"

	// revocationOverlap is how far before the last successful poll the next one starts:
	// a revocation is stamped with the clock of the replica that stored it and may commit
	// a little after its stamp, so replica clocks must agree within this.
	revocationOverlap = time.Minute
	// revocationInlineTimeout bounds a poll made by a token check (no background poller).
	revocationInlineTimeout = time.Second
	// revocationPollTimeout bounds a background poll.
	revocationPollTimeout = 5 * time.Second
	// revocationWarnEvery rate-limits the warning while the store is unreachable.
	revocationWarnEvery = time.Minute
	// revocationLeeway keeps entries a little past their token's expiry (verification
	// accepts 30s of clock skew).
	revocationLeeway = time.Minute
)

// revocationList is the in-memory list of revoked access tokens.
type revocationList struct {
	store    store.Store
	log      *slog.Logger
	interval time.Duration
	now      func() time.Time // the server's clock, for expiry

	mu  sync.RWMutex
	set map[string]time.Time // jti → token expiry

	lastAttempt atomic.Int64 // wall clock (UnixNano) at the end of the last poll, success or not
	flight      singleflight.Group
	// pollers counts running RunRevocationSync loops; while one runs, checks never poll
	// (nor wait for its poll, which may hang up to revocationPollTimeout on a dead network).
	pollers atomic.Int32

	pollMu       sync.Mutex // guards the fields below
	lastOK       time.Time  // wall clock at the start of the last successful poll
	lastErr      error
	failingSince time.Time
	lastWarn     time.Time
	lastPrune    time.Time

	rdb atomic.Pointer[redisPublisher]
}

type redisPublisher struct{ c redis.UniversalClient }

func newRevocationList(st store.Store, log *slog.Logger, interval time.Duration, now func() time.Time) *revocationList {
	return &revocationList{store: st, log: log, interval: interval, now: now, set: map[string]time.Time{}}
}

// revoked reports whether jti is on the list. Without a background poller it first polls
// the store if the last poll is older than the interval.
func (l *revocationList) revoked(ctx context.Context, jti string) bool {
	l.refreshIfStale(ctx)
	l.mu.RLock()
	_, ok := l.set[jti]
	l.mu.RUnlock()
	return ok
}

// refreshIfStale polls inline when no background poller runs and the last poll is older
// than the interval.
func (l *revocationList) refreshIfStale(ctx context.Context) {
	if l.pollers.Load() == 0 && time.Since(time.Unix(0, l.lastAttempt.Load())) >= l.interval {
		_ = l.refresh(ctx, revocationInlineTimeout)
	}
}

// refresh polls the store once, sharing the poll with concurrent callers. The poll runs
// with its own timeout, not the caller's cancellation.
func (l *revocationList) refresh(ctx context.Context, timeout time.Duration) error {
	ch := l.flight.DoChan("poll", func() (any, error) {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		return nil, l.poll(pctx)
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// poll reads the revocations stored since the last successful poll (less the overlap).
func (l *revocationList) poll(ctx context.Context) error {
	start := time.Now()
	l.pollMu.Lock()
	since := time.Time{}
	if !l.lastOK.IsZero() {
		since = l.lastOK.Add(-revocationOverlap)
	}
	l.pollMu.Unlock()

	rs, err := l.store.RevokedAccessTokensSince(ctx, since)
	defer func() { l.lastAttempt.Store(time.Now().UnixNano()) }()

	l.pollMu.Lock()
	defer l.pollMu.Unlock()
	if err != nil {
		l.lastErr = err
		if l.failingSince.IsZero() {
			l.failingSince = start
		}
		if time.Since(l.lastWarn) >= revocationWarnEvery {
			l.lastWarn = time.Now()
			l.log.WarnContext(ctx, "access-token revocation list: the store is unreachable; tokens are checked against the list as of the last successful poll, and revocations stored since then by other replicas are not enforced until the store is back (those announced over Redis are)",
				"last_successful_poll", l.lastOK.UTC().Format(time.RFC3339), "failing_since", l.failingSince.UTC().Format(time.RFC3339), "entries", l.size(), "err", err)
		}
		return fmt.Errorf("polling the store for access-token revocations: %w", err)
	}
	l.add(rs...)
	if !l.failingSince.IsZero() {
		l.log.InfoContext(ctx, "access-token revocation list: the store is reachable again", "unreachable_for", time.Since(l.failingSince).Round(time.Millisecond), "entries", l.size())
	}
	l.lastOK, l.lastErr, l.failingSince = start, nil, time.Time{}
	if time.Since(l.lastPrune) >= revocationLeeway {
		l.lastPrune = time.Now()
		l.prune()
	}
	return nil
}

// add puts revocations on the list (those of tokens already expired are skipped).
func (l *revocationList) add(rs ...store.Revocation) {
	if len(rs) == 0 {
		return
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range rs {
		if r.JTI == "" || r.ExpiresAt.Add(revocationLeeway).Before(now) {
			continue
		}
		l.set[r.JTI] = r.ExpiresAt
	}
}

// prune drops the entries of expired tokens (which verification refuses anyway).
func (l *revocationList) prune() {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	for jti, exp := range l.set {
		if exp.Add(revocationLeeway).Before(now) {
			delete(l.set, jti)
		}
	}
}

func (l *revocationList) size() int {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return len(l.set)
}

// health returns an error once the last successful poll is older than three intervals.
func (l *revocationList) health() error {
	l.pollMu.Lock()
	defer l.pollMu.Unlock()
	if age := time.Since(l.lastOK); age > 3*l.interval {
		msg := fmt.Sprintf("access-token revocation list stale since %s (%s ago): the store has not answered a poll since then",
			l.lastOK.UTC().Format(time.RFC3339), age.Round(time.Second))
		if l.lastErr != nil {
			return fmt.Errorf("%s: %w", msg, l.lastErr)
		}
		return errors.New(msg)
	}
	return nil
}

// announce adds revocations made by this replica to the list and publishes them to the
// other replicas (when Redis is configured). A failed publish is logged: the other
// replicas then see the revocation at their next poll.
func (l *revocationList) announce(ctx context.Context, rs ...store.Revocation) {
	l.add(rs...)
	p := l.rdb.Load()
	if p == nil || len(rs) == 0 {
		return
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	msg := make([]revocationMessage, len(rs))
	for i, r := range rs {
		msg[i] = revocationMessage{JTI: r.JTI, Exp: r.ExpiresAt.Unix()}
	}
	payload, _ := json.Marshal(msg)
	if err := p.c.Publish(pctx, RevocationChannel, payload).Err(); err != nil {
		l.log.WarnContext(ctx, "publishing an access-token revocation on Redis failed; other replicas will enforce it after their next store poll",
			"revocations", len(rs), "poll_interval", l.interval, "err", err)
	}
}

type revocationMessage struct {
	JTI string `json:"jti"`
	Exp int64  `json:"exp"`
}

// subscribe adds the revocations announced by other replicas until ctx ends. go-redis
// reconnects by itself; what is published while the connection is down reaches this
// replica through polling.
func (l *revocationList) subscribe(ctx context.Context, c redis.UniversalClient) {
	ps := c.Subscribe(ctx, RevocationChannel)
	defer ps.Close()
	// Confirm the subscription, to say in the log when Redis is not there; Channel keeps
	// retrying after that.
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	if _, err := ps.Receive(rctx); err != nil && ctx.Err() == nil {
		l.log.WarnContext(ctx, "subscribing to access-token revocations on Redis failed; retrying, and relying on store polls meanwhile",
			"channel", RevocationChannel, "poll_interval", l.interval, "err", err)
	}
	cancel()
	ch := ps.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			var msg []revocationMessage
			if err := json.Unmarshal([]byte(m.Payload), &msg); err != nil {
				l.log.WarnContext(ctx, "ignoring a malformed access-token revocation message on Redis", "channel", m.Channel, "bytes", len(m.Payload))
				continue
			}
			rs := make([]store.Revocation, 0, len(msg))
			for _, rm := range msg {
				rs = append(rs, store.Revocation{JTI: rm.JTI, ExpiresAt: time.Unix(rm.Exp, 0)})
			}
			l.add(rs...)
		}
	}
}

// RunRevocationSync keeps this server's access-token revocation list current until ctx
// ends: it polls the store every Options.RevocationPollInterval (so token checks never
// wait for a poll) and, when rdb is not nil, publishes this server's revocations on
// RevocationChannel and adds those announced by other replicas as they arrive. Call it
// once per process:
//
//	go srv.RunRevocationSync(ctx, rdb) // rdb: the store.redis client, or nil
//
// Without it the list is still polled, by the first token check after each interval.
func (s *Server) RunRevocationSync(ctx context.Context, rdb redis.UniversalClient) {
	if c, ok := rdb.(*redis.Client); ok && c == nil {
		rdb = nil
	}
	l := s.revocations
	l.pollers.Add(1)
	defer l.pollers.Add(-1)
	if rdb != nil {
		l.rdb.Store(&redisPublisher{c: rdb})
		defer l.rdb.Store(nil)
		done := make(chan struct{})
		go func() {
			defer close(done)
			l.subscribe(ctx, rdb)
		}()
		defer func() { <-done }()
	}
	t := time.NewTicker(l.interval / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = l.refresh(ctx, revocationPollTimeout)
		}
	}
}

// RevocationHealth reports whether the access-token revocation list is current: nil, or
// an error saying since when it is stale (the last successful poll of the store is older
// than three poll intervals) and the store's last error. Where RunRevocationSync is not
// running it first polls if the list is older than one interval (an idle server is not
// stale). Its signature fits a readiness check.
func (s *Server) RevocationHealth(ctx context.Context) error {
	s.revocations.refreshIfStale(ctx)
	return s.revocations.health()
}

// revokeSignIn revokes the access tokens issued in a sign-in (refresh-token family) and
// announces them to every replica. It returns how many it revoked.
func (s *Server) revokeSignIn(ctx context.Context, familyID string) (int, error) {
	if familyID == "" {
		return 0, nil
	}
	rs, err := s.store.RevokeFamilyAccessTokens(ctx, familyID)
	if err != nil {
		return 0, err
	}
	s.revocations.announce(ctx, rs...)
	return len(rs), nil
}

// revokeUserClient revokes the access tokens issued to the user through the client and
// announces them to every replica.
func (s *Server) revokeUserClient(ctx context.Context, userID, clientID string) (int, error) {
	rs, err := s.store.RevokeUserClientAccessTokens(ctx, userID, clientID)
	if err != nil {
		return 0, err
	}
	s.revocations.announce(ctx, rs...)
	return len(rs), nil
}
