package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/aadsts"
	"github.com/mcpgate/mcpgate/internal/config"
)

// Step ids of the connector and upstream credential checks of CheckConfig. Each carries the
// connector id or route name after a slash (connector/entra, upstream-token/files).
const (
	StepConnector         = "connector"
	StepConnectorRedirect = "connector-redirect"
	StepConnectorSecret   = "connector-secret"
	StepUpstreamToken     = "upstream-token"
	StepUpstreamScope     = "upstream-scope"
	StepUpstreamConsent   = "upstream-consent"
)

// federatedCallback is authserver.PathFederatedCallback, the redirect URI mcpgate sends
// to a connector's provider (issuer + this path). The doctor does not import the
// authorization server (see baseURL).
const federatedCallback = "/login/callback"

// tokenAnswer is what a token endpoint said to a probe.
type tokenAnswer struct {
	Status      int
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
	AccessToken string `json:"access_token"`
}

// aadCode is the first AADSTS code of the answer (0: none).
func (a tokenAnswer) aadCode() int {
	if len(a.Codes) > 0 {
		return a.Codes[0]
	}
	if c := aadsts.Parse(a.Description); len(c) > 0 {
		return c[0]
	}
	return 0
}

// summary is the error as one short phrase (error: description, clipped).
func (a tokenAnswer) summary() string {
	d := a.Description
	if i := strings.Index(d, ". "); i > 0 {
		d = d[:i+1]
	}
	if len(d) > 160 {
		d = d[:160] + "…"
	}
	if d == "" {
		return a.Error
	}
	return a.Error + ": " + d
}

// badClient reports whether the answer refuses the client's own credentials (as opposed to
// the grant, the scope or the user).
func (a tokenAnswer) badClient() bool {
	switch a.aadCode() {
	case 7000215, 7000222, 7000218, 700016, 700027, 700024, 50012:
		return true
	}
	return a.Error == "invalid_client"
}

// aadFix is the fix for an AADSTS answer from the doctor's table, with a fallback.
func aadFix(a tokenAnswer, fallback string) (cause, fix string) {
	if e, ok := aadsts.Explain(a.aadCode()); ok {
		return fmt.Sprintf("AADSTS%d, %s", e.Code, e.Cause), e.Fix
	}
	return a.summary(), fallback
}

// postToken sends form to a token endpoint. basic sends the client credentials with HTTP
// Basic authentication (client_secret_basic) instead of in the form.
func postToken(ctx context.Context, hc *http.Client, tokenURL string, form url.Values, basic bool) (tokenAnswer, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var id, secret string
	if basic {
		id, secret = form.Get("client_id"), form.Get("client_secret")
		form = cloneValues(form)
		form.Del("client_secret")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return tokenAnswer{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	if basic {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	resp, err := hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			return tokenAnswer{}, ue.Err
		}
		return tokenAnswer{}, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	a := tokenAnswer{}
	if json.Unmarshal(b, &a) != nil && resp.StatusCode != http.StatusOK {
		a.Error = fmt.Sprintf("HTTP %d", resp.StatusCode)
	}
	a.Status = resp.StatusCode
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
		return a, fmt.Errorf("HTTP %d (not a token endpoint)", resp.StatusCode)
	}
	return a, nil
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// entraEmulator returns the configuration's own Entra emulator (its registrations and
// tenants) when u is one of its URLs, with the tenant segment of u; nil otherwise.
func entraEmulator(cfg *config.Config, u string) (*config.Entra, string) {
	if cfg.Entra == nil {
		return nil, ""
	}
	prefix := cfg.Entra.PathPrefix
	if prefix == "" {
		prefix = "/entra"
	}
	root := cfg.BaseURL() + prefix + "/"
	if !strings.HasPrefix(u, root) {
		return nil, ""
	}
	tenant, _, _ := strings.Cut(strings.TrimPrefix(u, root), "/")
	return cfg.Entra, tenant
}

// emulatorApp finds an app registration by client id, name or App ID URI.
func emulatorApp(e *config.Entra, ref string) *config.EntraApp {
	for i := range e.Apps {
		a := &e.Apps[i]
		if strings.EqualFold(a.ClientID, ref) || a.Name == ref {
			return a
		}
		for _, u := range a.IdentifierURIs {
			if strings.EqualFold(strings.TrimRight(u, "/"), strings.TrimRight(ref, "/")) {
				return a
			}
		}
	}
	return nil
}

// emulatorTenant finds a tenant by id or domain (the first when key is empty or unknown).
func emulatorTenant(e *config.Entra, key string) *config.EntraTenant {
	for i := range e.Tenants {
		t := &e.Tenants[i]
		if strings.EqualFold(t.ID, key) {
			return t
		}
		for _, d := range t.Domains {
			if strings.EqualFold(d, key) {
				return t
			}
		}
	}
	if len(e.Tenants) > 0 {
		return &e.Tenants[0]
	}
	return nil
}

// adminConsented reports whether the tenant's administrator consented for app a.
func adminConsented(t *config.EntraTenant, a *config.EntraApp) bool {
	for _, ref := range t.AdminConsent {
		if strings.EqualFold(ref, a.ClientID) || ref == a.Name {
			return true
		}
	}
	return false
}

// probeClient tests a client's credentials at a token endpoint without a user. With
// entraScope set (Microsoft Entra ID or its emulator) it asks for a client-credentials token
// for that scope; elsewhere it redeems a made-up refresh token, which a provider refuses with
// invalid_grant only after it has authenticated the client. It returns the step's status,
// finding and fix, and the answer (for the callers' scope checks).
func probeClient(ctx context.Context, o Options, what, tokenURL, clientID, secret string, basic bool, entraScope string) (Status, string, string, tokenAnswer) {
	form := url.Values{"client_id": {clientID}, "client_secret": {secret}}
	if entraScope != "" {
		form.Set("grant_type", "client_credentials")
		form.Set("scope", entraScope)
	} else {
		form.Set("grant_type", "refresh_token")
		form.Set("refresh_token", "mcpgate-doctor-probe")
	}
	a, err := postToken(ctx, o.http(), tokenURL, form, basic)
	if err != nil {
		return StatusFail, "the token endpoint " + tokenURL + " of " + what + " is unreachable: " + err.Error(),
			"check the token URL and that the gateway host reaches it (DNS, firewall, egress proxy)", a
	}
	switch {
	case a.Status == http.StatusOK && a.AccessToken != "":
		return StatusOK, what + ": client " + clientID + " authenticates at " + tokenURL + " (a client-credentials token for " + entraScope + " was issued)", "", a
	case a.badClient():
		cause, fix := aadFix(a, "check the client id and secret registered at the provider, and update them in the configuration")
		return StatusFail, what + ": " + tokenURL + " refuses client " + clientID + ": " + cause, fix, a
	case entraScope != "":
		return StatusOK, what + ": client " + clientID + " authenticates at " + tokenURL + " (the probe's token for " + entraScope + " was refused for another reason: " + a.summary() + ")", "", a
	case a.Error == "invalid_grant":
		return StatusOK, what + ": client " + clientID + " authenticates at " + tokenURL + " (checked with a made-up refresh token, refused with invalid_grant after the client was accepted)", "", a
	default:
		return StatusSkip, what + ": the credentials of client " + clientID + " could not be tested without a user: " + tokenURL + " answered " + orNone(a.summary()) + " to the probe", "", a
	}
}

// entraTokenURL is the v2 token endpoint of an Entra tenant.
func entraTokenURL(authority, tenant string) string {
	authority = strings.TrimRight(authority, "/")
	if authority == "" {
		authority = "https://login.microsoftonline.com"
	}
	return authority + "/" + tenant + "/oauth2/v2.0/token"
}
