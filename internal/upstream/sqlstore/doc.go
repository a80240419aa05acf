// Package sqlstore implements upstream.ConnectionStore on SQL databases: SQLite
// (modernc.org/sqlite, the embedded default) and PostgreSQL (pgx). Compare-and-swap is a
// conditional UPDATE ... WHERE version = $old (or INSERT ... ON CONFLICT DO NOTHING for
// creation), so it is atomic across every replica sharing the database.
//
// Only sealed token material is stored (internal/secrets); the table holds no plaintext
// token.
package sqlstore
