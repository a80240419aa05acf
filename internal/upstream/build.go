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
	"github.com/mcpgate/mcpgate/internal/ui"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"crypto/rand"

	"github.com/golang-jwt/jwt/v5"

	"github.com/mcpgate/mcpgate/internal/secrets"
)

// BuildOptions are the runtime dependencies of Build.
type BuildOptions struct {
	// Store persists connections; required when connections are configured (internal/app
	// passes its store.Store: memory, SQLite or PostgreSQL).
	Store ConnectionStore
	// Keys seal stored tokens; nil loads them as upstreamCredentials.secrets says.
	Keys *secrets.Keyring
	// CurrentUser returns the signed-in user of a browser request (authorization server
	// session); required for the connection pages.
	CurrentUser func(r *http.Request) (subject string, ok bool)
	// LoginURL sends anonymous visitors of the pages to sign in (optional).
	LoginURL func(returnTo string) string
	// UserLabel names the signed-in user on the pages (optional; default the subject).
	UserLabel func(r *http.Request, subject string) string
	// UserGroups returns the signed-in user's groups on the pages (optional; see
	// ConnectionsConfig.UserGroups).
	UserGroups func(r *http.Request, subject string) []string
	// Branding is the operator's name and logo on the pages.
	Branding ui.Branding
	// SubjectToken, when set, supplies the obo assertion and the tokenExchange subject
	// token of every route (bridge mode: the user's upstream IdP token from
	// internal/authserver/federation, Set.SubjectToken; "" = the caller's token).
	SubjectToken AssertionSource
	// Cache is the exchanged-token cache; nil makes an in-memory LRU.
	Cache Cache
	// Observer is told the outcome of each credential request (metrics; nil: nobody).
	Observer CredentialObserver
	HTTP     *http.Client
	Logger   *slog.Logger
	Now      func() time.Time
}

// Set holds the providers of every route plus the shared HTTP surfaces.
type Set struct {
	providers map[string]Provider
	modes     map[string]string
	observer  CredentialObserver
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
	return RouteCredentials{Provider: p, Route: route, Mode: s.modes[route], Observer: s.observer}, ok
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

// Build creates the providers of every route.
func Build(uc Options, o BuildOptions) (*Set, error) {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Set{providers: map[string]Provider{}, modes: map[string]string{}, observer: o.Observer,
		ConnectionsPath: uc.ConnectionsPath, JWKSPath: uc.JWKSPath}
	cache := o.Cache
	if cache == nil {
		cache = NewMemoryCache(uc.CacheMaxEntries)
	}
	co := CacheOptions{Cache: cache, Skew: uc.CacheSkew}
	needSigner := false
	for _, r := range uc.Routes {
		if r.GatewayJWT != nil || (r.TokenExchange != nil && r.TokenExchange.ActorToken == "gatewayJWT") {
			needSigner = true
		}
	}
	if needSigner {
		signer, err := buildSigner(uc, log)
		if err != nil {
			return nil, err
		}
		s.Signer = signer
	}
	if len(uc.Connections) > 0 {
		keys := o.Keys
		if keys == nil {
			var err error
			if keys, err = secrets.Load(uc.Secrets); err != nil {
				return nil, err
			}
		}
		if o.Store == nil {
			return nil, errors.New("upstream: connections are configured but no connection store was given")
		}
		cs, err := NewConnections(ConnectionsConfig{Apps: uc.Connections, Store: o.Store, Keys: keys, BaseURL: strings.TrimRight(uc.PublicURL, "/") + s.ConnectionsPath,
			CurrentUser: o.CurrentUser, LoginURL: o.LoginURL, UserLabel: o.UserLabel, UserGroups: o.UserGroups, Branding: o.Branding, RefreshSkew: uc.RefreshSkew, HTTP: o.HTTP, Logger: log, Now: o.Now})
		if err != nil {
			return nil, err
		}
		s.Connections = cs
	}
	for i := range uc.Routes {
		u := &uc.Routes[i]
		rlog := log.With("route", u.Route)
		var p Provider
		var err error
		switch {
		case u.Passthrough:
			rlog.Warn("route forwards the caller's token upstream (upstreamAuth.passthrough); the MCP specification forbids token passthrough")
			p = NewPassthrough()
		case u.OBO != nil:
			var auth ClientAuth
			if auth, err = clientAuth(u.OBO.ClientID, u.OBO.ClientSecret, "client_secret_post", u.OBO.Certificate); err == nil {
				p, err = NewOBO(OBOConfig{TokenURL: u.OBO.TokenURL, Auth: auth, Scopes: strings.Fields(u.OBO.Scope), AssertionSource: o.SubjectToken, Cache: co, HTTP: o.HTTP, Logger: rlog, Now: o.Now})
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
			p, err = NewGatewayJWT(GatewayJWTConfig{Signer: s.Signer, Audience: orStr(u.GatewayJWT.Audience, u.UpstreamURL), Lifetime: u.GatewayJWT.Lifetime, Header: u.GatewayJWT.Header, Now: o.Now})
		case u.Static != nil:
			st := *u.Static
			p, err = NewStatic(StaticConfig{Header: st.Header, Value: st.Value, ValueFile: st.ValueFile, Prefix: st.Prefix})
		case u.Connection != "":
			if s.Connections == nil {
				err = fmt.Errorf("connection provider %q is not configured under upstreamCredentials.connections", u.Connection)
			} else {
				p, err = s.Connections.Provider(u.Connection)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("route %s: upstreamAuth: %w", u.Route, err)
		}
		if p != nil {
			s.providers[u.Route] = p
			s.modes[u.Route] = u.Mode
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

func buildSigner(uc Options, log *slog.Logger) (*GatewaySigner, error) {
	issuer := uc.PublicURL
	var files []string
	if g := uc.Signer; g != nil {
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

func clientAuth(id, secret, method string, cert *ClientCertificate) (ClientAuth, error) {
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
