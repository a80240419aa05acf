package entraemulator

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"
)

// signer holds the token signing key and its self-signed certificate (Entra publishes
// x5c certificates and uses the SHA-1 thumbprint as kid and x5t).
type signer struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
	kid  string // base64url SHA-1 thumbprint, like Entra
}

func newSigner(key *rsa.PrivateKey, keyFile string) (*signer, error) {
	if key == nil && keyFile != "" {
		data, err := os.ReadFile(keyFile)
		if err != nil {
			return nil, fmt.Errorf("reading signing key: %w", err)
		}
		if key, err = parseRSAKey(data); err != nil {
			return nil, fmt.Errorf("reading signing key %s: %w", keyFile, err)
		}
	}
	if key == nil {
		var err error
		if key, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			return nil, fmt.Errorf("generating signing key: %w", err)
		}
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "accounts.accesscontrol.windows.net"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("creating signing certificate: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	sum := sha1.Sum(der)
	return &signer{key: key, cert: cert, kid: base64.RawURLEncoding.EncodeToString(sum[:])}, nil
}

func parseRSAKey(data []byte) (*rsa.PrivateKey, error) {
	blk, _ := pem.Decode(data)
	if blk == nil {
		return nil, errors.New("no PEM block")
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, err
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA key")
	}
	return rk, nil
}

// jwk renders the key as Entra does, with the non-standard issuer member.
func (s *signer) jwk(issuer string) map[string]any {
	return map[string]any{
		"kty":                 "RSA",
		"use":                 "sig",
		"kid":                 s.kid,
		"x5t":                 s.kid,
		"n":                   base64.RawURLEncoding.EncodeToString(s.key.N.Bytes()),
		"e":                   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(s.key.E)).Bytes()),
		"x5c":                 []string{base64.StdEncoding.EncodeToString(s.cert.Raw)},
		"cloud_instance_name": "microsoftonline.com",
		"issuer":              issuer,
	}
}

// thumbprints of a client certificate, as client_assertion headers carry them.
func thumbprints(c *x509.Certificate) (x5t, x5tS256 string) {
	s1 := sha1.Sum(c.Raw)
	s2 := sha256.Sum256(c.Raw)
	return base64.RawURLEncoding.EncodeToString(s1[:]), base64.RawURLEncoding.EncodeToString(s2[:])
}
