package doctor_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/client"
	"github.com/mcpgate/mcpgate/internal/doctor"
	"github.com/mcpgate/mcpgate/internal/testutil"
)

// TestCheckLogin is doctor URL --login against mcpgate's own authorization server: sign in
// (dynamic registration, PKCE, consent), check the token received, list the tools.
func TestCheckLogin(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g := startGateway(t, ownASConfig(t, "http://$ADDR"))
	r, d := doctor.CheckURL(ctx, g.Base+"/weather/mcp", doctor.Options{})
	if r.Failed() {
		t.Fatal(dump(r))
	}
	person := &testutil.Person{Username: "carol", Password: "correct horse"}
	copts := client.Options{CacheDir: t.TempDir(), Prompt: io.Discard,
		OpenURL: func(ctx context.Context, u string) error { _, err := person.Authorize(ctx, u); return err }}
	r.Append(doctor.CheckLogin(ctx, d, copts, doctor.Options{}))
	golden(t, r, g.Base)
	for _, s := range r.Steps {
		if s.Status != doctor.StatusOK && s.ID != doctor.StepTokenVersion {
			t.Errorf("step %s = %s: %s", s.ID, s.Status, s.Finding)
		}
	}
	if s := r.Step(doctor.StepTools); s == nil || !strings.Contains(s.Finding, "get_forecast") {
		t.Errorf("tools step: %+v", s)
	}

	t.Run("wrong password", func(t *testing.T) {
		person := &testutil.Person{Username: "carol", Password: "wrong"}
		copts.CacheDir = t.TempDir()
		copts.OpenURL = func(ctx context.Context, u string) error { _, err := person.Authorize(ctx, u); return err }
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		lr := doctor.CheckLogin(ctx, d, copts, doctor.Options{})
		expect(t, lr, doctor.StepLogin, doctor.StatusFail)
	})
}
