package doctor

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver, for the store ping
	"github.com/redis/go-redis/v9"

	"github.com/mcpgate/mcpgate/internal/authn"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/secrets"
)

// Step ids of CheckConfig. Per-issuer and per-route steps carry the name after a slash
// (issuer/contoso, audience/weather).
const (
	StepConfig      = "config"
	StepIssuer      = "issuer"
	StepJWKS        = "jwks"
	StepAudience    = "audience"
	StepRouteScopes = "route-scopes"
	StepStore       = "store"
	StepRedis       = "redis"
	StepSealingKeys = "sealing-keys"
)

// CheckConfig is the operator's view: it loads file with the loader `mcpgate config validate`
// uses, then checks, against the live identity providers and services, what the gateway will
// need at run time: each issuer's discovery and key set, issuer strings that tokens will
// actually carry (Entra v1/v2), audiences that tokens will actually carry (api:// vs the
// client id), the scopes advertised to Entra clients and those policy require rules demand,
// the authServer connectors, the routes' upstream credentials, the store, Redis and the
// sealing keys. Nothing is written: the store is only pinged, never migrated; the credential
// probes ask token endpoints for tokens without a user, and never print a secret or a token.
func CheckConfig(ctx context.Context, file string, o Options) *Report {
	r := &Report{}
	cfg, warnings, err := config.Load(file)
	if err != nil {
		r.fail(StepConfig, file+" does not load: "+err.Error(), "run mcpgate config validate "+file+" and fix each problem it lists")
		return r
	}
	if len(warnings) > 0 {
		r.warn(StepConfig, fmt.Sprintf("%s loads with %d warning(s); the first: %s", file, len(warnings), warnings[0]), "run mcpgate config validate "+file+" to see every warning")
	} else {
		r.ok(StepConfig, fmt.Sprintf("%s loads (%d route(s), %d issuer(s))", file, len(cfg.Routes), len(cfg.Issuers)))
	}
	base := cfg.BaseURL()
	for _, is := range cfg.Issuers {
		checkIssuer(ctx, r, is, o)
	}
	for _, rt := range cfg.Routes {
		checkRoute(r, cfg, rt, base)
		checkPolicyScopes(r, cfg, rt)
	}
	if cfg.AuthServer != nil {
		for _, cn := range cfg.AuthServer.Connectors {
			checkAuthConnector(ctx, r, cfg, cn, o)
		}
	}
	for _, rt := range cfg.Routes {
		checkUpstreamAuth(ctx, r, cfg, rt, o)
	}
	checkStore(ctx, r, cfg)
	checkRedis(ctx, r, cfg)
	if (cfg.AuthServer != nil && len(cfg.AuthServer.Connectors) > 0) || (cfg.UpstreamCredentials != nil && len(cfg.UpstreamCredentials.Connections) > 0) {
		if err := loadSealingKeys(cfg); err != nil {
			r.fail(StepSealingKeys, "the keys that seal stored upstream tokens are missing: "+err.Error(),
				"create a key (openssl rand -base64 32) and give it through upstreamCredentials.secrets (keysEnv, by default $"+config.DefaultSecretKeysEnv+", or keysFile)")
		} else {
			r.ok(StepSealingKeys, "the keys that seal stored upstream tokens load")
		}
	}
	return r
}

func checkIssuer(ctx context.Context, r *Report, is config.Issuer, o Options) {
	id := StepIssuer + "/" + is.Name
	jid := StepJWKS + "/" + is.Name
	if is.CAFile != "" { // fetch as the gateway does: trusting the issuer's private CA
		hc, err := authn.WithCAFile(o.http(), is.CAFile)
		if err != nil {
			r.fail(jid, "the issuer's caFile does not load: "+err.Error(), "point caFile at a PEM file of the CA certificates that issued the issuer's TLS certificate")
			return
		}
		o.HTTPClient = hc
	}
	if e := is.Entra; e != nil {
		v1, v2 := authn.EntraIssuers(e.Authority, strings.ToLower(e.Tenant))
		authority := strings.TrimRight(e.Authority, "/")
		if authority == "" {
			authority = authn.DefaultEntraAuthority
		}
		disc := authority + "/" + e.Tenant + "/v2.0/.well-known/openid-configuration"
		b, err := fetch(ctx, o.http(), disc)
		var doc struct {
			Issuer string `json:"issuer"`
		}
		switch {
		case err != nil:
			r.fail(id, "the Entra tenant's discovery "+disc+" is unreachable: "+err.Error(),
				"check entra.tenant (the Directory (tenant) ID) and entra.authority, and that the gateway host reaches "+authority)
		case json.Unmarshal(b, &doc) != nil || doc.Issuer != v2:
			r.fail(id, "the Entra discovery at "+disc+" names issuer "+orNone(doc.Issuer)+", but v2 tokens will be checked against "+v2,
				"set entra.tenant to the tenant GUID that discovery names (a domain works for discovery but tokens carry the GUID)")
		default:
			versions := e.Versions
			if len(versions) == 0 {
				versions = []int{1, 2}
			}
			var forms []string
			for _, v := range versions {
				forms = append(forms, map[int]string{1: v1, 2: v2}[v])
			}
			r.ok(id, "Entra tenant "+e.Tenant+": accepts "+strings.Join(forms, " and "))
		}
		k1, k2 := authn.EntraKeysURLs(e.Authority, strings.ToLower(e.Tenant))
		var keyURLs []string
		for _, v := range e.Versions {
			keyURLs = append(keyURLs, map[int]string{1: k1, 2: k2}[v])
		}
		if len(e.Versions) == 0 {
			keyURLs = []string{k1, k2}
		}
		checkKeys(ctx, r, jid, keyURLs, nil, o)
		return
	}

	// A plain issuer: is its string one that tokens carry?
	iss := is.Issuer
	tid, ver := entraTenant(iss)
	u := strings.ToLower(iss)
	switch {
	case ver == 1:
		r.warn(id, iss+" is the Entra v1 issuer: only v1 tokens match; an API app with accessTokenAcceptedVersion 2 issues tokens with iss https://login.microsoftonline.com/"+tid+"/v2.0",
			"use the entra: preset (tenant: "+tid+", clientId, appIdUri): it accepts both forms and checks the tenant and the key's issuer")
		checkKeys(ctx, r, jid, nonEmpty(is.JWKSURL), jwksInline(is), o)
		return
	case strings.HasPrefix(u, "https://login.microsoftonline.com/") && ver == 0:
		r.fail(id, iss+" matches no Entra token: v1 tokens carry https://sts.windows.net/{tenant}/ and v2 tokens https://login.microsoftonline.com/{tenant}/v2.0",
			"use the entra: preset (tenant, clientId, appIdUri) instead of a plain issuer")
		return
	}
	keyURL := is.JWKSURL
	if keyURL == "" && is.JWKS == "" && is.JWKSFile == "" {
		disc := strings.TrimRight(iss, "/") + "/.well-known/openid-configuration"
		b, err := fetch(ctx, o.http(), disc)
		var doc struct {
			Issuer  string `json:"issuer"`
			JWKSURI string `json:"jwks_uri"`
		}
		switch {
		case err != nil:
			r.fail(id, "discovery "+disc+" is unreachable: "+err.Error(), "check the issuer URL and that the gateway host reaches it, or give jwksURL")
			r.skip("skipped: no discovery", jid)
			return
		case json.Unmarshal(b, &doc) != nil || doc.JWKSURI == "":
			r.fail(id, "discovery "+disc+" has no jwks_uri", "give the issuer's key set with jwksURL")
			r.skip("skipped: no key set URL", jid)
			return
		case doc.Issuer != iss:
			r.fail(id, "discovery names issuer "+doc.Issuer+", but tokens are checked against "+iss+" (exact match; reason wrong_issuer for every token)",
				"set issuer to exactly "+doc.Issuer)
			checkKeys(ctx, r, jid, []string{doc.JWKSURI}, nil, o)
			return
		}
		keyURL = doc.JWKSURI
		r.ok(id, iss+": discovery at "+disc+" names this issuer")
	} else {
		r.ok(id, iss+" (keys configured, no discovery)")
	}
	checkKeys(ctx, r, jid, nonEmpty(keyURL), jwksInline(is), o)
}

func jwksInline(is config.Issuer) []byte {
	if is.JWKS != "" {
		return []byte(is.JWKS)
	}
	if is.JWKSFile != "" {
		if b, err := os.ReadFile(is.JWKSFile); err == nil {
			return b
		}
	}
	return nil
}

func checkKeys(ctx context.Context, r *Report, id string, urls []string, inline []byte, o Options) {
	count := func(b []byte) int {
		var set struct {
			Keys []json.RawMessage `json:"keys"`
		}
		if json.Unmarshal(b, &set) != nil {
			return -1
		}
		return len(set.Keys)
	}
	if inline != nil {
		if n := count(inline); n <= 0 {
			r.fail(id, "the configured key set has no usable key", "put the issuer's JWKS ({\"keys\":[…]}) in jwks or jwksFile")
		} else {
			r.ok(id, fmt.Sprintf("the configured key set has %d key(s)", n))
		}
		return
	}
	if len(urls) == 0 {
		r.skip("no key set URL", id)
		return
	}
	var found []string
	for _, u := range urls {
		b, err := fetch(ctx, o.http(), u)
		if err != nil {
			r.fail(id, "the key set "+u+" is unreachable ("+err.Error()+"): the gateway answers 503 to every token of this issuer until it loads",
				"make "+u+" reachable from the gateway host (DNS, firewall, egress proxy), or configure the keys with jwksFile")
			return
		}
		if n := count(b); n <= 0 {
			r.fail(id, "the key set "+u+" has no key", "point the key source at the issuer's JWKS")
			return
		}
		found = append(found, u)
	}
	r.ok(id, "key set reachable: "+strings.Join(found, ", "))
}

func checkRoute(r *Report, cfg *config.Config, rt config.Route, base string) {
	resource := base + rt.Path
	accepted := slices.Clone(rt.Auth.Audiences)
	if len(accepted) == 0 {
		accepted = []string{resource}
	}
	var entraPlain, entraPreset []config.Issuer
	for _, name := range rt.Auth.Issuers {
		for _, is := range cfg.Issuers {
			if is.Name != name {
				continue
			}
			accepted = append(accepted, is.Audiences...)
			if is.Entra != nil {
				accepted = append(accepted, nonEmpty(is.Entra.ClientID, is.Entra.AppIDURI)...)
				entraPreset = append(entraPreset, is)
			} else if _, v := entraTenant(is.Issuer); v != 0 {
				entraPlain = append(entraPlain, is)
			}
		}
	}
	aid := StepAudience + "/" + rt.Name
	if len(rt.Auth.Issuers) > 0 {
		entraIssued := len(entraPlain)+len(entraPreset) > 0
		hasGUID := slices.ContainsFunc(accepted, isGUID)
		hasURI := anyPrefix(accepted, "api://")
		v2 := false
		for _, is := range entraPreset {
			if len(is.Entra.Versions) == 0 || slices.Contains(is.Entra.Versions, 2) {
				v2 = true
			}
		}
		for _, is := range entraPlain {
			if _, v := entraTenant(is.Issuer); v == 2 {
				v2 = true
			}
		}
		switch {
		case entraIssued && !hasGUID && !hasURI:
			r.fail(aid, "route "+rt.Name+" accepts only "+strings.Join(accepted, ", ")+", but Entra tokens carry the API app's App ID URI (api://…, v1) or client id (GUID, v2), never the route URL",
				"set the issuer's entra.clientId and entra.appIdUri (or add both to the route's auth.audiences)")
		case entraIssued && v2 && !hasGUID:
			r.fail(aid, "route "+rt.Name+" accepts "+strings.Join(accepted, ", ")+" but no client id GUID: v2 tokens (accessTokenAcceptedVersion 2) carry the API app's client id as aud",
				"set entra.clientId to the API app's Application (client) ID (or add it to auth.audiences)")
		default:
			r.ok(aid, "route "+rt.Name+" accepts aud "+strings.Join(accepted, ", "))
		}
	}

	// Scopes that Entra clients will be told to request.
	sid := StepRouteScopes + "/" + rt.Name
	if len(entraPlain)+len(entraPreset) == 0 || len(rt.Auth.AuthorizationServers) > 0 {
		return
	}
	advertised := rt.Auth.ScopesSupported
	if len(advertised) == 0 {
		advertised = rt.Auth.RequestScopes
	}
	if len(advertised) == 0 {
		// mcpgate qualifies auth.scopes with the API's App ID URI when it knows it.
		prefix := ""
		for _, is := range append(slices.Clone(entraPreset), entraPlain...) {
			if p, _ := authn.EntraScopePrefix(authn.Issuer{Issuer: is.Issuer, Audiences: is.Audiences, Entra: entraOf(is)}, rt.Auth.Audiences); p != "" && prefix == "" {
				prefix = p
			}
		}
		for _, s := range rt.Auth.Scopes {
			advertised = append(advertised, authn.QualifyEntraScope(prefix, s))
		}
	}
	var bare []string
	for _, s := range advertised {
		if !strings.Contains(s, "://") && !isGUID(strings.SplitN(s, "/", 2)[0]) && !slices.Contains([]string{"openid", "profile", "email", "offline_access"}, s) {
			bare = append(bare, s)
		}
	}
	if len(bare) > 0 {
		uri := "api://<app-id>"
		for _, is := range entraPreset {
			if is.Entra.AppIDURI != "" {
				uri = is.Entra.AppIDURI
			}
		}
		r.warn(sid, "route "+rt.Name+" advertises "+strings.Join(bare, " ")+" to clients that sign in at Entra directly: bare names resolve to Microsoft Graph",
			"set auth.requestScopes (and scopesSupported) to the fully qualified names ("+uri+"/"+bare[0]+"), or give the issuer entra.appIdUri; auth.scopes stays bare, as Entra writes scp")
		return
	}
	r.ok(sid, "route "+rt.Name+" advertises "+orNone(strings.Join(advertised, " ")))
}

func checkStore(ctx context.Context, r *Report, cfg *config.Config) {
	s := cfg.Store
	switch {
	case s.Postgres != nil:
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		db, err := sql.Open("pgx", s.Postgres.DSN)
		if err == nil {
			err = db.PingContext(ctx)
			db.Close()
		}
		if err != nil {
			r.fail(StepStore, "PostgreSQL is not reachable: "+err.Error(), "check store.postgres.dsn (host, port, user, password, sslmode) and that the gateway host reaches the database")
			return
		}
		r.ok(StepStore, "PostgreSQL answers")
	case s.Memory != nil:
		r.ok(StepStore, "memory store (state is lost on restart; one replica only)")
	default:
		path := "mcpgate.db"
		if s.SQLite != nil && s.SQLite.Path != "" {
			path = s.SQLite.Path
		}
		if _, err := os.Stat(path); err == nil {
			r.ok(StepStore, "SQLite database "+path+" exists")
			return
		}
		dir := filepath.Dir(path)
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			r.fail(StepStore, "SQLite database "+path+" cannot be created: folder "+dir+" does not exist",
				"create "+dir+" (writable by the gateway's user) or change store.sqlite.path")
			return
		}
		r.ok(StepStore, "SQLite database "+path+" will be created at the first start")
	}
}

func checkRedis(ctx context.Context, r *Report, cfg *config.Config) {
	rs := cfg.Store.Redis
	if rs == nil {
		return
	}
	rdb := redis.NewClient(&redis.Options{Addr: rs.Addr, Password: rs.Password, DB: rs.DB, DialTimeout: 2 * time.Second, MaxRetries: -1})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		r.fail(StepRedis, "Redis at "+rs.Addr+" does not answer: "+err.Error()+"; rate limits then let requests through and exchanged tokens are not shared",
			"check store.redis.addr and password, and that the gateway host reaches Redis")
		return
	}
	r.ok(StepRedis, "Redis at "+rs.Addr+" answers")
}

// loadSealingKeys loads the keys as the gateway does (secrets.Load: a keys file, else
// the environment variable). It maps the section itself rather than import internal/app,
// which would link the whole gateway into the doctor.
func loadSealingKeys(cfg *config.Config) error {
	sk := cfg.SealingKeys()
	_, err := secrets.Load(secrets.Source{File: sk.KeysFile, Env: sk.KeysEnv, Primary: sk.Primary})
	return err
}

// entraOf converts the preset for authn's helpers (nil for a plain issuer).
func entraOf(is config.Issuer) *authn.EntraIssuer {
	if e := is.Entra; e != nil {
		return &authn.EntraIssuer{Tenant: e.Tenant, ClientID: e.ClientID, AppIDURI: e.AppIDURI, Authority: e.Authority}
	}
	return nil
}
