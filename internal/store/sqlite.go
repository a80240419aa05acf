package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // pure-Go SQLite driver
)

// OpenSQLite opens (creating if needed) the SQLite database at path in WAL mode and applies
// migrations. The database holds signing keys and secrets: a new file is created with mode
// 0600 (SQLite gives its -wal and -shm files the database's mode), and an existing file
// readable or writable by group or others is reported with a WARN (left as it is: the
// operator may share it on purpose).
func OpenSQLite(ctx context.Context, path string, logger *slog.Logger) (*SQL, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("creating the store directory: %w", err)
		}
	}
	if err := prepareSQLiteFile(path, logger); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_pragma", "foreign_keys(ON)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	s := &SQL{db: db, dialect: dialectSQLite, log: logger}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", path, err)
	}
	if err := s.migrateConnections(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite store %s: %w", path, err)
	}
	return s, nil
}

// prepareSQLiteFile creates path with mode 0600 if it does not exist, and warns when an
// existing file is open to group or others.
func prepareSQLiteFile(path string, logger *slog.Logger) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err == nil {
		return f.Close()
	}
	if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating sqlite store %s: %w", path, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("opening sqlite store %s: %w", path, err)
	}
	if mode := fi.Mode().Perm(); mode&0o077 != 0 {
		logger.Warn("the sqlite store is readable or writable by other users; it holds signing keys and secrets: chmod 600 it",
			"path", path, "mode", fmt.Sprintf("%#o", mode))
	}
	return nil
}
