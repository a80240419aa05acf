package store

import "database/sql"

// DB returns the underlying database handle, for packages that keep their own tables in the
// same database (upstream connections).
func (s *SQL) DB() *sql.DB { return s.db }

// IsPostgres reports whether the backend is PostgreSQL (otherwise SQLite).
func (s *SQL) IsPostgres() bool { return s.dialect == dialectPostgres }
