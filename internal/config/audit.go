package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// AuditArguments opts a route into recording tool and prompt arguments in audit events.
// Without it, events carry only a SHA-256 of the canonical JSON arguments.
type AuditArguments struct {
	// RedactFields are argument paths whose values are replaced by "[redacted]": a dotted
	// path into nested objects ("card.number"), with * matching any key or array element
	// ("items.*.secret"). Keys that look like credentials (password, secret, token,
	// authorization, api_key, ...) and values that look like bearer tokens or JWTs are
	// always redacted.
	RedactFields []string `yaml:"redactFields,omitempty" json:"redactFields,omitempty"`
	// MaxBytes bounds the recorded arguments; larger arguments are recorded as
	// {"truncated": true}. Default 8KiB.
	MaxBytes ByteSize `yaml:"maxBytes,omitempty" json:"maxBytes,omitempty"`
}

// Audit configures where audit events go: one event per MCP request (see docs/audit.md).
// Without an audit section, events are written as JSON lines to stdout.
type Audit struct {
	// Stdout writes events as JSON lines to standard output.
	Stdout bool `yaml:"stdout,omitempty" json:"stdout,omitempty"`
	// File writes events as JSON lines to a size-rotated file.
	File *AuditFile `yaml:"file,omitempty" json:"file,omitempty"`
	// Store writes events to the configured store, where `mcpgate audit` queries them.
	Store bool `yaml:"store,omitempty" json:"store,omitempty"`
	// Buffer is the number of events held in memory while sinks catch up; when it is full,
	// events are dropped (counted and logged) rather than slowing requests. Default 4096.
	Buffer int `yaml:"buffer,omitempty" json:"buffer,omitempty"`
	// Journal is a file where each tool call is noted before it is sent upstream, so that
	// calls in flight when the process dies are recorded as "interrupted" at the next start.
	// Default: audit.journal beside the SQLite database; with PostgreSQL set a path on a
	// persistent volume. "off" turns it off.
	Journal string `yaml:"journal,omitempty" json:"journal,omitempty"`
}

// JournalPath is where the audit journal lives ("" when there is none): audit.journal,
// else beside the SQLite database.
func (c *Config) JournalPath() string {
	if c.Audit != nil && c.Audit.Journal != "" {
		if c.Audit.Journal == "off" {
			return ""
		}
		return c.Audit.Journal
	}
	if s := c.Store.SQLite; s != nil && s.Path != "" {
		return filepath.Join(filepath.Dir(s.Path), "audit.journal")
	}
	return ""
}

// AuditFile is a rotating JSON-lines audit file.
type AuditFile struct {
	// Path of the current file; rotated files are path.1, path.2, ... (newest first).
	Path string `yaml:"path" json:"path"`
	// MaxSize rotates the file when it would grow beyond this size. Default 100MiB.
	MaxSize ByteSize `yaml:"maxSize,omitempty" json:"maxSize,omitempty"`
	// MaxFiles is how many rotated files are kept. Default 5.
	MaxFiles int `yaml:"maxFiles,omitempty" json:"maxFiles,omitempty"`
}

// SetDefaults fills in the audit defaults.
func (a *Audit) SetDefaults() {
	if a.Buffer == 0 {
		a.Buffer = 4096
	}
	if a.File != nil {
		if a.File.MaxSize == 0 {
			a.File.MaxSize = 100 << 20
		}
		if a.File.MaxFiles == 0 {
			a.File.MaxFiles = 5
		}
	}
}

func init() { extensionValidators = append(extensionValidators, validateAudit) }

func validateAudit(c *Config, p *Problems) {
	if a := c.Audit; a != nil {
		a.SetDefaults()
		if !a.Stdout && a.File == nil && !a.Store {
			p.Warn("audit", "no sink is enabled (stdout, file or store): audit events are discarded")
		}
		if a.Buffer < 0 {
			p.Add("audit.buffer", "must be positive")
		}
		if f := a.File; f != nil {
			if f.Path == "" {
				p.Add("audit.file.path", "is required (for example /var/log/mcpgate/audit.jsonl)")
			} else if st, err := os.Stat(filepath.Dir(f.Path)); err != nil || !st.IsDir() {
				p.Add("audit.file.path", "directory %s does not exist; create it or pick another path", filepath.Dir(f.Path))
			}
			if f.MaxSize < 1024 {
				p.Add("audit.file.maxSize", "must be at least 1KiB")
			}
			if f.MaxFiles < 0 {
				p.Add("audit.file.maxFiles", "must not be negative")
			}
		}
	}
	for i := range c.Routes {
		aa := c.Routes[i].AuditArguments
		if aa == nil {
			continue
		}
		if aa.MaxBytes == 0 {
			aa.MaxBytes = 8 << 10
		}
		for j, f := range aa.RedactFields {
			if f == "" || strings.HasPrefix(f, ".") || strings.HasSuffix(f, ".") || strings.Contains(f, "..") {
				p.Add(fmt.Sprintf("routes[%d].auditArguments.redactFields[%d]", i, j), "%q is not a dotted path such as card.number or items.*.secret", f)
			}
		}
	}
}
