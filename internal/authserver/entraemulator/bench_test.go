package entraemulator

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The token endpoint's cost is dominated by one RS256 signature (and, for OBO, one RS256
// verification). BenchmarkBaselineRS256Sign measures that signature alone in the same run.

func BenchmarkBaselineRS256Sign(b *testing.B) {
	e := newEnv(b)
	c := jwt.MapClaims{"aud": "api://files", "iss": "https://sts.windows.net/" + contosoID + "/", "tid": contosoID,
		"oid": aliceOID, "scp": "Files.Read", "exp": time.Now().Add(time.Hour).Unix()}
	for b.Loop() {
		_ = e.em.sign(c, map[string]any{"kid": e.em.KeyID()})
	}
}

func benchToken(b *testing.B, e *env, form url.Values) {
	h := e.em.Handler()
	body := form.Encode()
	for b.Loop() {
		r := httptest.NewRequest(http.MethodPost, "https://127.0.0.1/"+contosoID+"/oauth2/v2.0/token", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != 200 {
			b.Fatalf("%d %s", w.Code, w.Body)
		}
	}
}

func BenchmarkTokenClientCredentials(b *testing.B) {
	e := newEnv(b)
	benchToken(b, e, e.secretForm(daemonID, daemonSecret, "grant_type", "client_credentials", "scope", "api://files/.default"))
}

func BenchmarkTokenOnBehalfOf(b *testing.B) {
	e := newEnv(b)
	user := e.login(b, contosoID, clientID, "alice@contoso.com", "alice-pw", "api://mcp-api/access_as_user", nil)
	benchToken(b, e, url.Values{"grant_type": {grantJWTBearer}, "requested_token_use": {"on_behalf_of"},
		"assertion": {str(user, "access_token")}, "client_id": {mcpAPIID}, "client_secret": {mcpSecret}, "scope": {"api://files/Files.Read"}})
}
