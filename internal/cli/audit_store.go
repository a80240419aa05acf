package cli

import (
	"context"
	"fmt"

	"github.com/mcpgate/mcpgate/internal/app"
	"github.com/mcpgate/mcpgate/internal/audit"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/store"
)

// The configured store (SQLite by default, PostgreSQL, memory) keeps audit events when
// audit.store is true; `mcpgate audit` queries it.
func init() {
	openAuditStore = func(ctx context.Context, cfg *config.Config) (audit.Store, func() error, error) {
		st, err := store.Open(ctx, app.StoreBackend(cfg.Store), nil)
		if err != nil {
			return nil, nil, err
		}
		as, ok := st.(audit.Store)
		if !ok {
			st.Close()
			return nil, nil, fmt.Errorf("the configured store (%T) does not keep audit events", st)
		}
		return as, st.Close, nil
	}
}
