package doctor

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/config"
)

// TargetFromConfig builds the target of one route of a configuration file, loaded with the
// loader `mcpgate config validate` uses: the audiences, issuers (both Entra forms a preset
// accepts), key sets, scopes and clock skew the gateway itself would apply. route may be empty
// when the file has one route, or when claims' aud names exactly one route's resource.
func TargetFromConfig(ctx context.Context, file, route string, claims map[string]any, o Options) (*Target, error) {
	cfg, _, err := config.Load(file)
	if err != nil {
		return nil, err
	}
	base := cfg.BaseURL()
	idx := -1
	for i, r := range cfg.Routes {
		if route != "" && r.Name == route {
			idx = i
		}
	}
	if route != "" && idx < 0 {
		return nil, fmt.Errorf("%s has no route named %q", file, route)
	}
	if idx < 0 && len(cfg.Routes) == 1 {
		idx = 0
	}
	if idx < 0 {
		aud := audList(claims["aud"])
		var names []string
		for i, r := range cfg.Routes {
			names = append(names, r.Name)
			for _, a := range aud {
				if a == base+r.Path {
					idx = i
				}
			}
		}
		if idx < 0 {
			return nil, fmt.Errorf("%s has several routes (%s): name one with --route", file, strings.Join(names, ", "))
		}
	}
	r := cfg.Routes[idx]
	resource := base + r.Path
	t := &Target{Resource: resource, Scopes: r.Auth.Scopes, FromConfig: true}
	t.Audiences = r.Auth.Audiences
	if len(t.Audiences) == 0 {
		t.Audiences = []string{resource}
	}
	if len(r.Auth.Issuers) == 0 {
		if cfg.AuthServer == nil {
			return nil, fmt.Errorf("route %s names no issuer and there is no authServer", r.Name)
		}
		iss := cfg.AuthServer.Issuer
		if iss == "" {
			iss = base
		}
		iss = strings.TrimRight(iss, "/")
		jwks := discoverJWKS(ctx, iss, o)
		if jwks == "" {
			jwks = iss + "/jwks" // authserver.PathJWKS
		}
		t.Issuers = append(t.Issuers, TargetIssuer{Issuer: iss, JWKSURL: jwks})
		return t, nil
	}
	for _, name := range r.Auth.Issuers {
		for _, is := range cfg.Issuers {
			if is.Name != name {
				continue
			}
			t.Audiences = append(t.Audiences, is.Audiences...)
			if d := is.ClockSkew.D(); d > 0 {
				t.ClockSkew = d
			}
			if e := is.Entra; e != nil {
				t.Audiences = append(t.Audiences, nonEmpty(e.ClientID, e.AppIDURI)...)
				v1, v2 := authn.EntraIssuers(e.Authority, strings.ToLower(e.Tenant))
				k1, k2 := authn.EntraKeysURLs(e.Authority, strings.ToLower(e.Tenant))
				versions := e.Versions
				if len(versions) == 0 {
					versions = []int{1, 2}
				}
				for _, v := range versions {
					if v == 1 {
						t.Issuers = append(t.Issuers, TargetIssuer{Issuer: v1, JWKSURL: k1})
					} else {
						t.Issuers = append(t.Issuers, TargetIssuer{Issuer: v2, JWKSURL: k2})
					}
				}
				continue
			}
			ti := TargetIssuer{Issuer: is.Issuer, JWKSURL: is.JWKSURL}
			switch {
			case is.JWKS != "":
				ti.JWKS = []byte(is.JWKS)
			case is.JWKSFile != "":
				if b, err := os.ReadFile(is.JWKSFile); err == nil {
					ti.JWKS = b
				}
			case is.JWKSURL == "":
				ti.JWKSURL = discoverJWKS(ctx, is.Issuer, o)
			}
			t.Issuers = append(t.Issuers, ti)
		}
	}
	return t, nil
}

// discoverJWKS reads jwks_uri from the issuer's OpenID configuration ("" when unreachable:
// the signature step then says so).
func discoverJWKS(ctx context.Context, issuer string, o Options) string {
	b, err := fetch(ctx, o.http(), strings.TrimRight(issuer, "/")+"/.well-known/openid-configuration")
	if err != nil {
		return ""
	}
	var m struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if decodeJSON(b, &m) != nil {
		return ""
	}
	return m.JWKSURI
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}
