package upstream

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// GatewaySigner signs the identity assertions of mode gatewayJWT and publishes their public
// keys. The first key signs; every key is published (keep a retired key listed until
// tokens signed with it have expired).
type GatewaySigner struct {
	issuer string
	keys   []signingKey
	jwks   []byte
}

type signingKey struct {
	kid    string
	alg    jwt.SigningMethod
	signer crypto.Signer
}

// NewGatewaySigner builds a signer for issuer from RSA (2048+) or ECDSA P-256 keys.
func NewGatewaySigner(issuer string, keys ...crypto.Signer) (*GatewaySigner, error) {
	if issuer == "" {
		return nil, errors.New("gatewayJWT: issuer is required (default: publicURL)")
	}
	if len(keys) == 0 {
		return nil, errors.New("gatewayJWT: at least one signing key is required")
	}
	s := &GatewaySigner{issuer: issuer}
	var set jose.JSONWebKeySet
	for i, k := range keys {
		var alg jwt.SigningMethod
		switch pk := k.Public().(type) {
		case *rsa.PublicKey:
			if pk.N.BitLen() < 2048 {
				return nil, fmt.Errorf("gatewayJWT: key %d: RSA keys must be at least 2048 bits", i+1)
			}
			alg = jwt.SigningMethodRS256
		case *ecdsa.PublicKey:
			if pk.Curve != elliptic.P256() {
				return nil, fmt.Errorf("gatewayJWT: key %d: only ECDSA P-256 is supported", i+1)
			}
			alg = jwt.SigningMethodES256
		default:
			return nil, fmt.Errorf("gatewayJWT: key %d: unsupported key type %T (use RSA or ECDSA P-256)", i+1, pk)
		}
		jwk := jose.JSONWebKey{Key: k.Public(), Algorithm: alg.Alg(), Use: "sig"}
		tp, err := jwk.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, err
		}
		jwk.KeyID = base64.RawURLEncoding.EncodeToString(tp)
		set.Keys = append(set.Keys, jwk)
		s.keys = append(s.keys, signingKey{kid: jwk.KeyID, alg: alg, signer: k})
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	s.jwks = b
	return s, nil
}

// LoadSigningKey reads a PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
func LoadSigningKey(path string) (crypto.Signer, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseSigningKey(b)
}

// ParseSigningKey parses a PEM private key.
func ParseSigningKey(pemBytes []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(pemBytes)
	if blk == nil {
		return nil, errors.New("no PEM block found: expected a PRIVATE KEY")
	}
	if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
		if s, ok := k.(crypto.Signer); ok {
			return s, nil
		}
	}
	if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(blk.Bytes); err == nil {
		return k, nil
	}
	return nil, errors.New("unsupported private key: use PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM")
}

// GenerateSigningKey creates an ECDSA P-256 key (for development: tokens signed with an
// unpinned key stop verifying when mcpgate restarts).
func GenerateSigningKey() (crypto.Signer, error) {
	return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
}

// JWKS returns the public key set as JSON.
func (s *GatewaySigner) JWKS() []byte { return append([]byte(nil), s.jwks...) }

// Issuer returns the iss of signed tokens.
func (s *GatewaySigner) Issuer() string { return s.issuer }

// JWKSHandler serves the public keys (application/jwk-set+json would be more exact, but
// application/json is what every JWKS client accepts).
func (s *GatewaySigner) JWKSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "use GET", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Write(s.jwks)
	})
}

// GatewayClaims are the claims of a gatewayJWT assertion.
type GatewayClaims struct {
	jwt.RegisteredClaims
	Email    string   `json:"email,omitempty"`
	Name     string   `json:"name,omitempty"`
	Groups   []string `json:"groups,omitempty"`
	ClientID string   `json:"client_id,omitempty"`
	// Act names the agent acting for the user (RFC 8693 §4.1 style): the MCP client.
	Act *struct {
		Sub string `json:"sub"`
	} `json:"act,omitempty"`
}

// GatewayJWTConfig configures mode gatewayJWT for one route.
type GatewayJWTConfig struct {
	Signer *GatewaySigner
	// Audience is the upstream's identifier (aud).
	Audience string
	// Lifetime of each token; default 60s, at most 10m.
	Lifetime time.Duration
	// Header carries the token; default Authorization (as "Bearer <jwt>").
	Header string
	Now    func() time.Time
}

// NewGatewayJWT returns a provider that signs a short-lived JWT stating the caller.
func NewGatewayJWT(c GatewayJWTConfig) (Provider, error) {
	if c.Signer == nil || c.Audience == "" {
		return nil, errors.New("gatewayJWT: signer and audience are required")
	}
	if c.Lifetime <= 0 {
		c.Lifetime = 60 * time.Second
	}
	c.Lifetime = min(c.Lifetime, 10*time.Minute)
	if c.Now == nil {
		c.Now = time.Now
	}
	return ProviderFunc(func(ctx context.Context, req Request) (Credential, error) {
		p := req.Principal
		if p == nil || p.Subject == "" {
			return Credential{}, &Failure{Mode: ModeGatewayJWT, Reason: ReasonNoPrincipal, Permanent: true,
				Description: "gatewayJWT states the signed-in user, but the request is anonymous: use auth mode strict on the route"}
		}
		now := c.Now()
		jti := make([]byte, 16)
		rand.Read(jti)
		cl := GatewayClaims{
			RegisteredClaims: jwt.RegisteredClaims{
				Issuer: c.Signer.issuer, Subject: p.Subject, Audience: jwt.ClaimStrings{c.Audience},
				IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-5 * time.Second)),
				ExpiresAt: jwt.NewNumericDate(now.Add(c.Lifetime)), ID: hex.EncodeToString(jti),
			},
			Email: p.Email, Name: p.Name, Groups: p.Groups, ClientID: p.ClientID,
		}
		if p.ClientID != "" {
			cl.Act = &struct {
				Sub string `json:"sub"`
			}{Sub: p.ClientID}
		}
		k := c.Signer.keys[0]
		tok := jwt.NewWithClaims(k.alg, cl)
		tok.Header["kid"] = k.kid
		tok.Header["typ"] = "JWT"
		signed, err := tok.SignedString(k.signer)
		if err != nil {
			return Credential{}, &Failure{Mode: ModeGatewayJWT, Reason: ReasonConfig, Description: "signing: " + err.Error()}
		}
		h := http.Header{}
		if c.Header == "" || http.CanonicalHeaderKey(c.Header) == "Authorization" {
			h.Set("Authorization", "Bearer "+signed)
		} else {
			h.Set(c.Header, signed)
		}
		return Credential{Header: h, Mode: ModeGatewayJWT, ExpiresAt: now.Add(c.Lifetime)}, nil
	}), nil
}
