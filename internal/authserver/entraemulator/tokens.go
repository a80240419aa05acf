package entraemulator

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// principal is who a token is about.
type principal struct {
	tenant     *tenant
	user       *user // nil for app-only tokens
	client     *app
	clientAuth string   // appidacr/azpacr: 0 public, 1 secret, 2 certificate
	amr        []string // pwd, mfa
	authTime   time.Time
	spa        bool      // signed in through a Single-page application redirect URI
	spaExpires time.Time // when spa: the refresh token's fixed expiry
}

// mintAccess issues an access token for res, in res's accepted format.
func (em *Emulator) mintAccess(r *http.Request, p principal, res *app, scopes, roles []string) (string, time.Time) {
	now := em.now().Truncate(time.Second)
	exp := now.Add(em.cfg.AccessTokenLifetime.D())
	tid := p.tenant.id
	c := jwt.MapClaims{
		"iat": now.Unix(), "nbf": now.Add(-5 * time.Minute).Unix(), "exp": exp.Unix(),
		"tid": tid,
		"aio": aio(p.amr),
		"rh":  "0." + opaque("rh", tid, p.client.clientID) + ".",
		"uti": strings.TrimRight(base64.RawURLEncoding.EncodeToString([]byte(randToken(8))), "="),
	}
	header := map[string]any{"kid": em.sig.kid}
	if res.version == 2 {
		c["iss"] = em.base(r) + "/" + tid + "/v2.0"
		c["aud"] = res.clientID
		c["azp"] = p.client.clientID
		c["azpacr"] = p.clientAuth
		c["ver"] = "2.0"
	} else {
		c["iss"] = V1Issuer(tid)
		c["aud"] = res.v1Audience()
		c["appid"] = p.client.clientID
		c["appidacr"] = p.clientAuth
		c["ver"] = "1.0"
		c["idp"] = V1Issuer(tid)
		header["x5t"] = em.sig.kid
	}
	if p.user == nil {
		sp := p.client.spObjectID(p.tenant)
		c["oid"], c["sub"] = sp, sp
		if len(roles) > 0 {
			c["roles"] = roles
		}
		if res.optional["idtyp"] {
			c["idtyp"] = "app"
		}
	} else {
		u := p.user
		c["oid"] = u.oid
		c["sub"] = pairwise(u.oid, p.client.clientID)
		c["name"] = u.cfg.DisplayName
		c["scp"] = strings.Join(scopes, " ")
		if len(roles) > 0 {
			c["roles"] = roles
		}
		if res.version == 2 {
			c["preferred_username"] = u.upn
		} else {
			delete(c, "idp")
			c["upn"] = u.upn
			c["unique_name"] = u.upn
			c["acr"] = "1"
			c["amr"] = p.amr
		}
		if res.optional["idtyp"] {
			c["idtyp"] = "user"
		}
		if res.optional["email"] && u.cfg.Mail != "" {
			c["email"] = u.cfg.Mail
		}
		if res.groupsClaim && len(u.groupIDs) > 0 {
			em.groupsClaim(r, c, u)
		}
	}
	return em.sign(c, header), exp
}

// groupsClaim adds groups, or the overage indicator above the threshold. Entra points
// the indicator at Graph's getMemberObjects of the user; the emulator points it at its own
// Graph endpoint (handler_graph.go), so the URL is reachable.
func (em *Emulator) groupsClaim(r *http.Request, c jwt.MapClaims, u *user) {
	if len(u.groupIDs) > em.cfg.GroupOverageThreshold {
		c["_claim_names"] = map[string]string{"groups": "src1"}
		c["_claim_sources"] = map[string]any{"src1": map[string]string{
			"endpoint": em.base(r) + graphMemberObjectsPath(u.oid),
		}}
		return
	}
	c["groups"] = u.groupIDs
}

// mintID issues a v2 id_token for the client.
func (em *Emulator) mintID(r *http.Request, p principal, nonce string) string {
	now := em.now().Truncate(time.Second)
	u := p.user
	c := jwt.MapClaims{
		"aud": p.client.clientID, "iss": em.base(r) + "/" + p.tenant.id + "/v2.0",
		"iat": now.Unix(), "nbf": now.Add(-5 * time.Minute).Unix(), "exp": now.Add(em.cfg.IDTokenLifetime.D()).Unix(),
		"name": u.cfg.DisplayName, "oid": u.oid, "preferred_username": u.upn,
		"rh":  "0." + opaque("rh", p.tenant.id, p.client.clientID) + ".",
		"sub": pairwise(u.oid, p.client.clientID), "tid": p.tenant.id,
		"uti": strings.TrimRight(base64.RawURLEncoding.EncodeToString([]byte(randToken(8))), "="),
		"ver": "2.0", "aio": opaque("aio", p.client.clientID, now.String()),
	}
	if !p.authTime.IsZero() {
		c["auth_time"] = p.authTime.Unix()
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	if u.cfg.Mail != "" {
		c["email"] = u.cfg.Mail
	}
	if p.client.groupsClaim && len(u.groupIDs) > 0 {
		// groupMembershipClaims of the client's own registration puts groups in its id_tokens.
		em.groupsClaim(r, c, u)
	}
	return em.sign(c, map[string]any{"kid": em.sig.kid})
}

func (em *Emulator) sign(c jwt.MapClaims, header map[string]any) string {
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, c)
	for k, v := range header {
		t.Header[k] = v
	}
	s, err := t.SignedString(em.sig.key)
	if err != nil {
		panic("entra: signing: " + err.Error()) // RSA signing with a valid key cannot fail
	}
	return s
}

// clientInfo is MSAL's client_info: base64url {"uid": oid, "utid": tid}.
func clientInfo(u *user) string {
	b, _ := json.Marshal(map[string]string{"uid": u.oid, "utid": u.tenant.id})
	return base64.RawURLEncoding.EncodeToString(b)
}

// pairwise is the per-app sub.
func pairwise(oid, appID string) string {
	h := sha256.Sum256([]byte("sub\x00" + oid + "\x00" + appID))
	return base64.RawURLEncoding.EncodeToString(h[:])[:43]
}

func opaque(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return base64.RawURLEncoding.EncodeToString(h[:])
}

// tokenHash identifies a token in logs.
func tokenHash(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return base64.RawURLEncoding.EncodeToString(h[:9])
}

// aio is Entra's opaque internal claim. The emulator keeps the authentication methods in it
// (v2 access tokens carry no amr), so that On-Behalf-Of knows whether MFA was done.
func aio(amr []string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(randToken(12) + "|" + strings.Join(amr, ",")))
}

// amrFromAIO recovers the authentication methods of an aio claim.
func amrFromAIO(s string) []string {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil
	}
	_, methods, ok := strings.Cut(string(b), "|")
	if !ok || methods == "" {
		return nil
	}
	return strings.Split(methods, ",")
}
