package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/mcpgate/mcpgate/internal/audit"
)

// AuditLog is implemented by every backend: it keeps audit events for `mcpgate audit`
// (it is audit.Store, so the audit package's store sink writes to it directly).
type AuditLog = audit.Store

var (
	_ AuditLog = (*Memory)(nil)
	_ AuditLog = (*SQL)(nil)
)

// auditLog is the memory backend's audit log (the audit package's bounded in-memory store).
func (m *Memory) auditLog() *audit.MemoryStore {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.audit == nil {
		m.audit = audit.NewMemoryStore(0)
	}
	return m.audit
}

// AppendAudit implements audit.Store.
func (m *Memory) AppendAudit(ctx context.Context, e audit.Event) error {
	return m.auditLog().AppendAudit(ctx, e)
}

// QueryAudit implements audit.Store.
func (m *Memory) QueryAudit(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	return m.auditLog().QueryAudit(ctx, f)
}

// AppendAudit implements audit.Store: one row per event, the event as JSON plus the
// columns queries filter on.
func (s *SQL) AppendAudit(ctx context.Context, e audit.Event) error {
	data, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encoding audit event: %w", err)
	}
	_, err = s.exec(ctx, `INSERT INTO audit_events (time_ns, route, subject, email, target, decision, data) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		e.Time.UnixNano(), e.Route, e.User, strings.ToLower(e.Email), firstNonEmpty(e.Tool, e.Prompt, e.Resource), e.Decision, string(data))
	if err != nil {
		return fmt.Errorf("inserting audit event: %w", err)
	}
	return nil
}

// QueryAudit implements audit.Store: the most recent f.Limit matching events, oldest first.
func (s *SQL) QueryAudit(ctx context.Context, f audit.Filter) ([]audit.Event, error) {
	var (
		where []string
		args  []any
	)
	if f.User != "" {
		where = append(where, `(subject = ? OR email = ?)`)
		args = append(args, f.User, strings.ToLower(f.User))
	}
	if f.Tool != "" {
		where = append(where, `target = ?`)
		args = append(args, f.Tool)
	}
	if f.Decision != "" {
		where = append(where, `decision = ?`)
		args = append(args, f.Decision)
	}
	if f.Route != "" {
		where = append(where, `route = ?`)
		args = append(args, f.Route)
	}
	if !f.Since.IsZero() {
		where = append(where, `time_ns >= ?`)
		args = append(args, f.Since.UnixNano())
	}
	if !f.Before.IsZero() {
		where = append(where, `time_ns < ?`)
		args = append(args, f.Before.UnixNano())
	}
	q := `SELECT data FROM audit_events`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY time_ns DESC`
	limit := f.Limit
	if limit == 0 {
		limit = 100
	}
	if limit > 0 {
		q += fmt.Sprintf(` LIMIT %d`, limit)
	}
	rows, err := s.db.QueryContext(ctx, s.q(q), args...)
	if err != nil {
		return nil, fmt.Errorf("querying audit events: %w", err)
	}
	defer rows.Close()
	var out []audit.Event
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, err
		}
		var e audit.Event
		if err := json.Unmarshal([]byte(data), &e); err != nil {
			return nil, fmt.Errorf("decoding audit event: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
