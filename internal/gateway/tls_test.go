package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcpgate/mcpgate/internal/testutil"
)

func writeCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

func TestTLSListener(t *testing.T) {
	up, _ := echoUpstream(t)
	certFile, keyFile, pool := writeCert(t)
	base, _, _ := serveGateway(t, Options{TLSCertFile: certFile, TLSKeyFile: keyFile,
		Routes: []RouteOptions{{Name: "r", Path: "/mcp", Upstream: up.URL, Verifier: testVerifier(t)}}})
	base = strings.Replace(base, "http://", "https://", 1)
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	resp, err := c.Get(base + "/.well-known/oauth-protected-resource")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md protectedResourceMetadata
	_ = json.NewDecoder(resp.Body).Decode(&md)
	if md.Resource != base+"/mcp" {
		t.Fatalf("resource %q over TLS, want %q", md.Resource, base+"/mcp")
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(initBody))
	req.Header.Set("Authorization", "Bearer "+mintToken(t, nil))
	resp2, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp2.Body.Close()
	if resp2.StatusCode != 200 {
		t.Fatalf("status %d over %s", resp2.StatusCode, resp2.Proto)
	}
}

func TestAccessLog(t *testing.T) {
	up, _ := echoUpstream(t)
	var buf testutil.SyncBuffer
	_, base := newGateway(t, Options{Logger: slog.New(slog.NewJSONHandler(&buf, nil)),
		Routes: []RouteOptions{{Name: "weather", Path: "/mcp", Upstream: up.URL, Verifier: testVerifier(t)}}})
	tok := mintToken(t, nil)
	bad := mintToken(t, map[string]any{"exp": time.Now().Add(-time.Hour).Unix()})
	post(t, base+"/mcp", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_weather","arguments":{}}}`, map[string]string{"Authorization": "Bearer " + tok})
	post(t, base+"/mcp", initBody, map[string]string{"Authorization": "Bearer " + bad})
	time.Sleep(50 * time.Millisecond)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var reqs []map[string]any
	for _, l := range lines {
		var m map[string]any
		if json.Unmarshal([]byte(l), &m) == nil && m["msg"] == "request" {
			reqs = append(reqs, m)
		}
	}
	if len(reqs) != 2 {
		t.Fatalf("want 2 access lines, got %q", lines)
	}
	ok, rej := reqs[0], reqs[1]
	if st, _ := ok["status"].(float64); st != 200 { // each line is written after its response was sent
		ok, rej = rej, ok
	}
	if ok["route"] != "weather" || ok["mcp_method"] != "tools/call" || ok["mcp_target"] != "get_weather" || ok["status"].(float64) != 200 ||
		ok["subject"] != "alice" || ok["client_id"] != "vscode" || ok["latency"] == nil || ok["method"] != "POST" {
		t.Errorf("access line %v", ok)
	}
	if rej["status"].(float64) != 401 || rej["decision"] != "unauthenticated" {
		t.Errorf("rejection line %v", rej)
	}
	if s := buf.String(); strings.Contains(s, tok) || strings.Contains(s, bad) || strings.Contains(s, strings.Split(tok, ".")[2]) {
		t.Error("a token reached the log")
	}
	_ = context.Background
}
