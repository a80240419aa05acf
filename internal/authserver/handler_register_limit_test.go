package authserver

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestRegistrationRateLimitLoopback: the per-IP registration limit does not lock a developer
// out of their own local server. Loopback callers get RegistrationsPerLoopbackPerHour
// (default 1000, negative: none) instead of RegistrationsPerIPPerHour; other addresses keep
// the per-IP limit.
func TestRegistrationRateLimitLoopback(t *testing.T) {
	register := func(env *testEnv, remoteAddr string) int {
		r := httptest.NewRequest(http.MethodPost, env.issuer+PathRegister, strings.NewReader(`{"redirect_uris":["http://127.0.0.1:3000/cb"]}`))
		r.Header.Set("Content-Type", "application/json")
		r.RemoteAddr = remoteAddr
		w := httptest.NewRecorder()
		env.as.Handler().ServeHTTP(w, r)
		return w.Code
	}
	tests := []struct {
		name       string
		mutate     func(*Options)
		remoteAddr string
		n          int // registrations that must succeed
		thenStatus int // status of the next one
	}{
		{"loopback v4, default", nil, "127.0.0.1:5000", 60, http.StatusCreated},
		{"loopback v6, default", nil, "[::1]:5000", 60, http.StatusCreated},
		{"loopback, low per-IP limit", func(o *Options) { o.RegistrationsPerIPPerHour = 2 }, "127.0.0.1:5000", 10, http.StatusCreated},
		{"loopback, own limit", func(o *Options) { o.RegistrationsPerLoopbackPerHour = 3 }, "127.0.0.1:5000", 3, http.StatusTooManyRequests},
		{"loopback, no limit", func(o *Options) { o.RegistrationsPerLoopbackPerHour = -1; o.RegistrationsPerIPPerHour = 1 }, "127.0.0.1:5000", 40, http.StatusCreated},
		{"remote, per-IP limit", func(o *Options) { o.RegistrationsPerIPPerHour = 2 }, "203.0.113.7:5000", 2, http.StatusTooManyRequests},
		{"v4-mapped loopback", func(o *Options) { o.RegistrationsPerIPPerHour = 2 }, "[::ffff:127.0.0.1]:5000", 5, http.StatusCreated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := newTestEnv(t, tt.mutate)
			for i := range tt.n {
				if got := register(env, tt.remoteAddr); got != http.StatusCreated {
					t.Fatalf("registration %d: status %d, want 201", i+1, got)
				}
			}
			if got := register(env, tt.remoteAddr); got != tt.thenStatus {
				t.Fatalf("registration %d: status %d, want %d", tt.n+1, got, tt.thenStatus)
			}
		})
	}
	t.Run("remote limit does not touch loopback", func(t *testing.T) {
		env := newTestEnv(t, func(o *Options) { o.RegistrationsPerIPPerHour = 1 })
		register(env, "198.51.100.1:1")
		if got := register(env, "198.51.100.1:1"); got != http.StatusTooManyRequests {
			t.Fatalf("remote: %d, want 429", got)
		}
		if got := register(env, "127.0.0.1:1"); got != http.StatusCreated {
			t.Fatalf("loopback after a remote lockout: %d, want 201", got)
		}
	})
}
