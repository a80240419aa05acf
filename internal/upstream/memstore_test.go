package upstream_test

import (
	"testing"

	"github.com/mcpgate/mcpgate/internal/upstream"
	"github.com/mcpgate/mcpgate/internal/upstream/connstoretest"
)

func TestMemoryConnectionStore(t *testing.T) {
	connstoretest.Run(t, func(*testing.T) upstream.ConnectionStore { return upstream.NewMemoryConnectionStore() })
}
