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
		if s.Status != doctor.StatusOK && s.ID != doctor.StepTokenVersion && s.ID != doctor.StepHidden {
			t.Errorf("step %s = %s: %s", s.ID, s.Status, s.Finding)
		}
	}
	if s := r.Step(doctor.StepTools); s == nil || !strings.Contains(s.Finding, "get_forecast") {
		t.Errorf("tools step: %+v", s)
	}

	t.Run("hidden tools explained", func(t *testing.T) {
		// The forecasts route hides get_forecast from carol (not an admin) and explains.
		r, d := doctor.CheckURL(ctx, g.Base+"/forecasts/mcp", doctor.Options{})
		copts.CacheDir = t.TempDir()
		copts.OpenURL = func(ctx context.Context, u string) error { _, err := person.Authorize(ctx, u); return err }
		r.Append(doctor.CheckLogin(ctx, d, copts, doctor.Options{}))
		expect(t, r, doctor.StepTools, doctor.StatusWarn, doctor.StepHidden, doctor.StepTokenVersion)
		expect(t, r, doctor.StepHidden, doctor.StatusWarn, doctor.StepTools, doctor.StepTokenVersion)
		if s := r.Step(doctor.StepHidden); !strings.Contains(s.Finding, "get_forecast (denied by rule forecasts-for-admins: forecasts are for administrators)") {
			t.Errorf("hidden step: %+v", *s)
		}
	})
	if s := r.Step(doctor.StepHidden); s == nil || s.Status != doctor.StatusSkip || !strings.Contains(s.Finding, "policy.explainHidden") {
		t.Errorf("a route without explainHidden: hidden step %+v", s)
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
