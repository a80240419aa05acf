package authn

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// TestIssuerCAFile: an issuer behind a private CA works with caFile and only then; the
// other issuers' fetches do not trust that CA.
func TestIssuerCAFile(t *testing.T) {
	key := newRSA(t, 1, "k1")
	jwks := jwksJSON(t, key)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(jwks))
	}))
	defer srv.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	const iss = "https://idp.internal.example"
	for _, c := range []struct {
		name   string
		caFile string
		ok     bool
	}{{"with caFile", caFile, true}, {"without caFile", "", false}} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			reg, err := NewRegistry(ctx, []Issuer{{Name: "private", Issuer: iss, JWKSURL: srv.URL + "/keys", CAFile: c.caFile, Audiences: []string{"api"}}},
				Options{HTTPClient: &http.Client{Timeout: 2 * time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			defer reg.Close()
			v, err := reg.Verifier([]string{"private"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			tok := key.sign(t, jwt.MapClaims{"iss": iss, "aud": "api", "sub": "u1", "exp": time.Now().Add(time.Hour).Unix()})
			_, err = v.Verify(ctx, tok)
			if c.ok && err != nil {
				t.Fatalf("verify with caFile: %v", err)
			}
			if !c.ok && err == nil {
				t.Fatal("a private CA was trusted without caFile")
			}
		})
	}
	if _, err := WithCAFile(&http.Client{}, filepath.Join(t.TempDir(), "none.pem")); err == nil {
		t.Error("a missing caFile must be an error")
	}
}
