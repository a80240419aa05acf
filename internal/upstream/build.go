package upstream

import (
	"context"
	"crypto"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"crypto/rand"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/secrets"
)

// BuildOptions are the runtime dependencies of Build.
type BuildOptions struct {
	// Store persists connections; required when connections are configured (the lead
	// wires internal/store's implementation; NewMemoryConnectionStore for one replica).
	Store ConnectionStore
	// Keys seal stored tokens; nil loads them as upstreamCredentials.secrets says.
	Keys *secrets.Keyring
	// CurrentUser returns the signed-in user of a browser request (authorization server
	// session); required for the connection pages.
	CurrentUser func(r *http.Request) (subject string, ok bool)
	// LoginURL sends anonymous visitors of the pages to sign in (optional).
	LoginURL func(returnTo string) string
	// SubjectToken, when set, supplies the obo assertion and the tokenExchange subject
	// token of every route (bridge mode: the user's upstream IdP token from
	// internal/authserver/federation, Set.SubjectToken; "" = the caller's token).
	SubjectToken AssertionSource
	// Cache is the exchanged-token cache; nil makes an in-memory LRU.
	Cache  Cache
	HTTP   *http.Client
	Logger *slog.Logger
	Now    func() time.Time
}

// Set holds the providers of every route plus the shared HTTP surfaces.
type Set struct {
	providers map[string]Provider
	modes     map[string]string
	// Connections is nil when no connection providers are configured.
	Connections *Connections
	// Signer is nil when no route uses gatewayJWT.
	Signer          *GatewaySigner
	ConnectionsPath string
	JWKSPath        string
}

// For returns the provider of a route (ok false: the route sends no credential).
func (s *Set) For(route string) (Provider, bool) {
	p, ok := s.providers[route]
	return p, ok
}

// Gateway returns the adapter for the gateway's UpstreamCredentials seam of a route.
func (s *Set) Gateway(route string) (RouteCredentials, bool) {
	p, ok := s.providers[route]
	return RouteCredentials{Provider: p, Route: route}, ok
}

// Mode returns the configured mode of a route ("" for none).
func (s *Set) Mode(route string) string { return s.modes[route] }

// Mount registers the connection pages and the gatewayJWT JWKS on mux.
func (s *Set) Mount(mux *http.ServeMux) {
	if s.Connections != nil {
		mux.Handle(s.ConnectionsPath+"/", s.Connections.Handler())
	}
	if s.Signer != nil {
		mux.Handle("GET "+s.JWKSPath, s.Signer.JWKSHandler())
	}
}

// Build creates the providers of every route from a validated configuration.
func Build(cfg *config.Config, o BuildOptions) (*Set, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	uc := cfg.UpstreamCredentials
	if uc == nil {
		uc = &config.UpstreamCredentials{}
	}
	s := &Set{providers: map[string]Provider{}, modes: map[string]string{},
		ConnectionsPath: orStr(uc.ConnectionsPath, config.DefaultConnectionsPath), JWKSPath: config.DefaultGatewayJWKSPath}
	cache := o.Cache
	if cache == nil {
		n := 0
		if uc.Cache != nil {
			n = uc.Cache.MaxEntries
		}
		cache = NewMemoryCache(n)
	}
	co := CacheOptions{Cache: cache}
	if uc.Cache != nil {
		co.Skew = uc.Cache.Skew.D()
	}
	needSigner := false
	for _, r := range cfg.Routes {
		if r.UpstreamAuth != nil && (r.UpstreamAuth.GatewayJWT != nil || (r.UpstreamAuth.TokenExchange != nil && r.UpstreamAuth.TokenExchange.ActorToken == "gatewayJWT")) {
			needSigner = true
		}
	}
	if needSigner {
		signer, err := buildSigner(cfg, uc, log)
		if err != nil {
			return nil, err
		}
		s.Signer = signer
	}
	if len(uc.Connections) > 0 {
		keys := o.Keys
		if keys == nil {
			var err error
			if keys, err = loadKeys(uc.Secrets); err != nil {
				return nil, err
			}
		}
		if o.Store == nil {
			return nil, errors.New("upstream: connections are configured but no connection store was given")
		}
		var apps []OAuthApp
		for _, cp := range uc.Connections {
			apps = append(apps, OAuthApp{Name: cp.Name, DisplayName: cp.DisplayName, AuthorizeURL: cp.AuthorizeURL, TokenURL: cp.TokenURL,
				RevocationURL: cp.RevocationURL, ClientID: cp.ClientID, ClientSecret: cp.ClientSecret, AuthMethod: cp.ClientAuthMethod,
				Scopes: cp.Scopes, Resource: cp.Resource, AuthParams: cp.AuthParams})
		}
		cs, err := NewConnections(ConnectionsConfig{Apps: apps, Store: o.Store, Keys: keys, BaseURL: strings.TrimRight(cfg.PublicURL, "/") + s.ConnectionsPath,
			CurrentUser: o.CurrentUser, LoginURL: o.LoginURL, RefreshSkew: uc.RefreshSkew.D(), HTTP: o.HTTP, Logger: log, Now: o.Now})
		if err != nil {
			return nil, err
		}
		s.Connections = cs
	}
	for _, r := range cfg.Routes {
		u := r.UpstreamAuth
		if u == nil {
			continue
		}
		rlog := log.With("route", r.Name)
		var p Provider
		var err error
		switch {
		case u.Passthrough:
			rlog.Warn("route forwards the caller's token upstream (upstreamAuth.passthrough); the MCP specification forbids token passthrough")
			p = NewPassthrough()
		case u.OBO != nil:
			var auth ClientAuth
			if auth, err = clientAuth(u.OBO.ClientID, u.OBO.ClientSecret, "client_secret_post", u.OBO.Certificate); err == nil {
				p, err = NewOBO(OBOConfig{TokenURL: u.OBO.OBOTokenURL(), Auth: auth, Scopes: strings.Fields(u.OBO.Scope), AssertionSource: o.SubjectToken, Cache: co, HTTP: o.HTTP, Logger: rlog, Now: o.Now})
			}
		case u.TokenExchange != nil:
			te := u.TokenExchange
			var auth ClientAuth
			if te.ClientID != "" {
				auth, _ = clientAuth(te.ClientID, te.ClientSecret, orStr(te.ClientAuthMethod, "client_secret_basic"), nil)
			}
			tc := TokenExchangeConfig{TokenURL: te.TokenURL, Auth: auth, Audience: te.Audience, Resource: te.Resource, Scopes: te.Scopes,
				SubjectTokenType: te.SubjectTokenType, RequestedTokenType: te.RequestedTokenType, SubjectTokenSource: o.SubjectToken, Cache: co, HTTP: o.HTTP, Logger: rlog, Now: o.Now}
			switch te.ActorToken {
			case "clientCredentials":
				actor, aerr := NewClientCredentials(ClientCredentialsConfig{TokenURL: te.TokenURL, Auth: auth, HTTP: o.HTTP, Logger: rlog, Now: o.Now})
				if aerr != nil {
					err = aerr
					break
				}
				tc.ActorToken = func(ctx context.Context) (string, string, error) {
					c, err := actor.Credential(ctx, Request{})
					if err != nil {
						return "", "", err
					}
					return strings.TrimPrefix(c.Header.Get("Authorization"), "Bearer "), TokenTypeAccessToken, nil
				}
			case "gatewayJWT":
				signer := s.Signer
				tc.ActorToken = func(context.Context) (string, string, error) {
					t, err := signer.ActorToken(te.TokenURL, time.Now())
					return t, TokenTypeJWT, err
				}
			}
			if err == nil {
				p, err = NewTokenExchange(tc)
			}
		case u.ClientCredentials != nil:
			cc := u.ClientCredentials
			var auth ClientAuth
			if auth, err = clientAuth(cc.ClientID, cc.ClientSecret, orStr(cc.ClientAuthMethod, "client_secret_basic"), cc.Certificate); err == nil {
				p, err = NewClientCredentials(ClientCredentialsConfig{TokenURL: cc.TokenURL, Auth: auth, Scopes: cc.Scopes, Resource: cc.Resource, Cache: co, HTTP: o.HTTP, Logger: rlog, Now: o.Now})
			}
		case u.GatewayJWT != nil:
			p, err = NewGatewayJWT(GatewayJWTConfig{Signer: s.Signer, Audience: orStr(u.GatewayJWT.Audience, r.Upstream.URL), Lifetime: u.GatewayJWT.Lifetime.D(), Header: u.GatewayJWT.Header, Now: o.Now})
		case u.Static != nil:
			p, err = NewStatic(StaticConfig{Header: u.Static.Header, Value: u.Static.Value, ValueFile: u.Static.ValueFile, Prefix: u.Static.Prefix})
		case u.Connection != nil:
			if s.Connections == nil {
				err = fmt.Errorf("connection provider %q is not configured under upstreamCredentials.connections", u.Connection.Provider)
			} else {
				p, err = s.Connections.Provider(u.Connection.Provider)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("route %s: upstreamAuth: %w", r.Name, err)
		}
		if p != nil {
			s.providers[r.Name] = p
			s.modes[r.Name] = u.Modes()[0]
		}
	}
	return s, nil
}

func orStr(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func loadKeys(sk *config.SecretKeys) (*secrets.Keyring, error) {
	if sk == nil {
		sk = &config.SecretKeys{}
	}
	if sk.KeysFile != "" {
		return secrets.KeyringFromFile(sk.KeysFile, sk.Primary)
	}
	return secrets.KeyringFromEnv(orStr(sk.KeysEnv, config.DefaultSecretKeysEnv), sk.Primary)
}

func buildSigner(cfg *config.Config, uc *config.UpstreamCredentials, log *slog.Logger) (*GatewaySigner, error) {
	issuer := cfg.PublicURL
	var files []string
	if g := uc.GatewayJWT; g != nil {
		issuer = orStr(g.Issuer, issuer)
		files = g.KeyFiles
	}
	var keys []crypto.Signer
	for _, f := range files {
		k, err := LoadSigningKey(f)
		if err != nil {
			return nil, fmt.Errorf("upstreamCredentials.gatewayJWT.keyFiles: %s: %w", f, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		log.Warn("gatewayJWT uses an ephemeral signing key: upstreams must re-fetch the JWKS after every restart, and several replicas disagree; set upstreamCredentials.gatewayJWT.keyFiles")
		k, err := GenerateSigningKey()
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	return NewGatewaySigner(issuer, keys...)
}

// ActorToken signs a short-lived JWT naming mcpgate itself (RFC 8693 actor_token).
func (s *GatewaySigner) ActorToken(audience string, now time.Time) (string, error) {
	jti := make([]byte, 16)
	rand.Read(jti)
	k := s.keys[0]
	tok := jwt.NewWithClaims(k.alg, jwt.RegisteredClaims{Issuer: s.issuer, Subject: s.issuer, Audience: jwt.ClaimStrings{audience},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(60 * time.Second)), ID: hex.EncodeToString(jti)})
	tok.Header["kid"] = k.kid
	return tok.SignedString(k.signer)
}

func clientAuth(id, secret, method string, cert *config.ClientCertificate) (ClientAuth, error) {
	if cert != nil {
		ca, err := LoadCertificateAssertion(id, cert.CertFile, cert.KeyFile, cert.Algorithm)
		if err != nil {
			return nil, err
		}
		return ca, nil
	}
	if method == "client_secret_basic" {
		return ClientSecretBasic{ID: id, Secret: secret}, nil
	}
	return ClientSecretPost{ID: id, Secret: secret}, nil
}

// LoadCertificateAssertion reads a PEM certificate and its RSA key for client assertions.
func LoadCertificateAssertion(clientID, certFile, keyFile, alg string) (CertificateAssertion, error) {
	cb, err := os.ReadFile(certFile)
	if err != nil {
		return CertificateAssertion{}, err
	}
	blk, _ := pem.Decode(cb)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return CertificateAssertion{}, fmt.Errorf("%s: no PEM CERTIFICATE block", certFile)
	}
	cert, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return CertificateAssertion{}, fmt.Errorf("%s: %w", certFile, err)
	}
	key, err := LoadSigningKey(keyFile)
	if err != nil {
		return CertificateAssertion{}, fmt.Errorf("%s: %w", keyFile, err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		return CertificateAssertion{}, fmt.Errorf("%s: Entra certificate credentials need an RSA key", keyFile)
	}
	if !rk.PublicKey.Equal(cert.PublicKey) {
		return CertificateAssertion{}, fmt.Errorf("%s does not belong to the certificate %s", keyFile, certFile)
	}
	return CertificateAssertion{ID: clientID, Key: rk, Certificate: cert, Algorithm: alg}, nil
}
