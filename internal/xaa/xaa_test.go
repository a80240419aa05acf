package xaa

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

// fakeAS serves PRM for /mcp and AS metadata, with or without the ID-JAG profile, and a
// token endpoint that refuses everything.
func fakeAS(t *testing.T, profile bool) *httptest.Server {
	var srv *httptest.Server
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/oauth-protected-resource/mcp", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"resource": srv.URL + "/mcp", "authorization_servers": []string{srv.URL}})
	})
	mux.HandleFunc("/.well-known/oauth-authorization-server", func(w http.ResponseWriter, r *http.Request) {
		m := map[string]any{"issuer": srv.URL, "token_endpoint": srv.URL + "/token"}
		if profile {
			m["authorization_grant_profiles_supported"] = []string{GrantProfileIDJAG}
		}
		json.NewEncoder(w).Encode(m)
	})
	mux.HandleFunc("/token", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"error": "invalid_target", "error_description": "no mapping"})
	})
	srv = httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestNotSupported(t *testing.T) {
	srv := fakeAS(t, false)
	c := &Client{IdP: Credentials{TokenURL: srv.URL + "/token", ClientID: "a", ClientSecret: "s"}}
	if _, err := c.Token(context.Background(), srv.URL+"/mcp", "id-token", SubjectIDToken); !errors.Is(err, ErrNotSupported) {
		t.Fatalf("err = %v, want ErrNotSupported", err)
	}
}

func TestIdPError(t *testing.T) {
	srv := fakeAS(t, true)
	c := &Client{IdP: Credentials{TokenURL: srv.URL + "/token", ClientID: "a", ClientSecret: "s"},
		ResourceClients: map[string]Credentials{srv.URL: {ClientID: "a", ClientSecret: "s"}}}
	_, err := c.Token(context.Background(), srv.URL+"/mcp", "id-token", SubjectIDToken)
	var oe *Error
	if !errors.As(err, &oe) || oe.Code != "invalid_target" || oe.Status != 400 {
		t.Fatalf("err = %v, want the IdP's invalid_target", err)
	}
	if _, err := c.Token(context.Background(), "http://127.0.0.1:1/mcp", "x", SubjectIDToken); err == nil {
		t.Fatal("unreachable server: no error")
	}
}
