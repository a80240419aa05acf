package doctor

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/mcpgate/mcpgate/internal/client"
)

// Options are shared by the checks.
type Options struct {
	// HTTPClient makes every request (default: a client with a 15 s timeout).
	HTTPClient *http.Client
	// Now is the clock for token times (default time.Now).
	Now func() time.Time
}

func (o Options) http() *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	return &http.Client{Timeout: 15 * time.Second}
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Step ids of CheckURL, in order.
const (
	StepURL               = "url"
	StepReach             = "reach"
	StepTLS               = "tls"
	StepChallenge         = "challenge"
	StepPRM               = "prm"
	StepPRMResource       = "prm-resource"
	StepPRMServers        = "prm-servers"
	StepASMetadata        = "as-metadata"
	StepPKCE              = "pkce"
	StepRegistration      = "registration"
	StepResourceIndicator = "resource-indicator"
	StepScopes            = "scopes"
)

var urlSteps = []string{StepURL, StepReach, StepTLS, StepChallenge, StepPRM, StepPRMResource, StepPRMServers,
	StepASMetadata, StepPKCE, StepRegistration, StepResourceIndicator, StepScopes}

// Discovery is what CheckURL learnt about the server, for the token checks that may follow.
type Discovery struct {
	ServerURL string
	Challenge client.Challenge
	Resource  *client.ResourceMetadata
	Server    *client.ServerMetadata
}

// CheckURL runs the client's view of the MCP server at serverURL. The report fails when a
// spec-following MCP client cannot sign in.
func CheckURL(ctx context.Context, serverURL string, o Options) (*Report, *Discovery) {
	r := &Report{}
	d := &Discovery{ServerURL: serverURL}
	rest := func(from string) []string { return urlSteps[slices.Index(urlSteps, from):] }

	canon, err := client.CanonicalResource(serverURL)
	if err != nil {
		r.fail(StepURL, err.Error(), "give the MCP endpoint's full URL, for example https://mcp.example.com/weather/mcp")
		r.skip("skipped: no usable URL", rest(StepReach)...)
		return r, d
	}
	u, _ := url.Parse(canon)
	r.ok(StepURL, "MCP endpoint "+canon)

	// Reachability and TLS: the unauthenticated initialize every client sends first.
	ch, err := client.Probe(ctx, o.http(), serverURL)
	if err != nil {
		if tlsErr := tlsProblem(err); tlsErr != "" {
			r.ok(StepReach, "connected to "+u.Host)
			r.fail(StepTLS, tlsErr, "serve a certificate for "+u.Hostname()+" from a CA the clients trust (a public CA, or install your CA on each client), and keep it unexpired")
		} else {
			r.fail(StepReach, "POST "+canon+" failed: "+err.Error(), "check the URL, DNS, firewall and proxy settings; the server must be reachable from where the MCP client runs")
			r.skip("skipped: server unreachable", StepTLS)
		}
		r.skip("skipped: no answer from the server", rest(StepChallenge)...)
		return r, d
	}
	d.Challenge = ch
	r.ok(StepReach, fmt.Sprintf("POST %s answered HTTP %d", canon, ch.Status))
	switch {
	case u.Scheme == "https":
		r.ok(StepTLS, "https with a certificate this host trusts")
	case isLoopbackHost(u.Hostname()):
		r.ok(StepTLS, "plain http on a loopback host (acceptable for development only)")
	default:
		r.fail(StepTLS, "plain http to "+u.Hostname()+": tokens would travel in clear, and OAuth 2.1 clients refuse non-loopback http",
			"serve the endpoint over https (mcpgate: tls: or a TLS-terminating proxy, and publicURL: https://…)")
	}

	// The challenge.
	noAuth := false
	switch {
	case ch.Status == http.StatusUnauthorized && ch.ResourceMetadata != "":
		f := "401 with WWW-Authenticate: Bearer resource_metadata=\"" + ch.ResourceMetadata + "\""
		if ch.Scope != "" {
			f += ", scope=\"" + ch.Scope + "\""
		}
		r.ok(StepChallenge, f)
	case ch.Status == http.StatusUnauthorized:
		r.warn(StepChallenge, "401 without a Bearer challenge naming resource_metadata: clients must guess the metadata URL (allowed since MCP 2025-11-25, a MUST in 2025-06-18)",
			"answer unauthenticated requests with WWW-Authenticate: Bearer resource_metadata=\"<PRM URL>\", scope=\"<scopes>\" (mcpgate does this on strict routes)")
	case ch.Status >= 200 && ch.Status < 300:
		noAuth = true
		r.warn(StepChallenge, fmt.Sprintf("HTTP %d without a token: the server does not ask clients to sign in", ch.Status),
			"if the server should be protected, put it behind a strict mcpgate route (auth.mode: strict)")
	case ch.Status == http.StatusForbidden:
		r.fail(StepChallenge, "403 before any token was sent: something refuses the request itself (an Origin check, a WAF, an IP allow-list)",
			"allow the client's origin and address, or call the URL the server publishes; a missing token should get a 401 with a Bearer challenge")
		r.skip("skipped: no challenge to follow", rest(StepPRM)...)
		return r, d
	default:
		r.fail(StepChallenge, fmt.Sprintf("HTTP %d to an MCP initialize: this does not look like an MCP endpoint", ch.Status),
			"check the path: an MCP endpoint answers POST with JSON-RPC (mcpgate routes are served at publicURL + route path, e.g. /weather/mcp)")
		r.skip("skipped: not an MCP endpoint", rest(StepPRM)...)
		return r, d
	}

	// Protected Resource Metadata (RFC 9728).
	c, err := client.New(client.Options{ServerURL: serverURL, HTTPClient: o.http(), CacheDir: os.TempDir()})
	if err != nil {
		r.fail(StepPRM, err.Error(), "give the MCP endpoint's full URL")
		r.skip("skipped", rest(StepPRMResource)...)
		return r, d
	}
	prm, err := c.DiscoverResource(ctx, ch)
	var mismatch *client.ResourceMismatchError
	switch {
	case errors.As(err, &mismatch):
		r.ok(StepPRM, "found at "+mismatch.Metadata)
		r.fail(StepPRMResource, fmt.Sprintf("the metadata names resource %q, not the URL the client uses (%s); clients refuse to sign in, because a token for %q could be replayed elsewhere", mismatch.Resource, canon, mismatch.Resource),
			fmt.Sprintf("set the metadata's resource to %s (mcpgate: publicURL must be the externally visible base URL, scheme and host included), or use the URL the metadata names", canon))
		r.skip("skipped: clients stop at the resource mismatch", rest(StepPRMServers)...)
		return r, d
	case err != nil:
		r.fail(StepPRM, "protected resource metadata is broken: "+err.Error(),
			"serve JSON with resource and authorization_servers at the path-inserted URL "+client.PRMCandidates(serverURL, "")[0])
		r.skip("skipped: no usable metadata", rest(StepPRMResource)...)
		return r, d
	case prm == nil && noAuth:
		r.skip("the server does not ask for sign-in and publishes no protected resource metadata", rest(StepPRM)...)
		return r, d
	case prm == nil:
		cands := client.PRMCandidates(serverURL, ch.ResourceMetadata)
		r.fail(StepPRM, "no protected resource metadata at "+strings.Join(cands, ", ")+": 2025-06-18 and later clients cannot find the authorization server",
			"publish RFC 9728 metadata at "+client.PRMCandidates(serverURL, "")[0]+" with resource "+canon+" and authorization_servers (mcpgate serves it for every route)")
		r.skip("skipped: no metadata", rest(StepPRMResource)...)
		return r, d
	}
	d.Resource = prm
	pathForm := client.PRMCandidates(serverURL, "")[0]
	if prm.Source != pathForm && prm.Source != ch.ResourceMetadata && u.Path != "" {
		r.ok(StepPRM, "found at "+prm.Source+" (the root form; "+pathForm+" is tried first)")
	} else {
		r.ok(StepPRM, "found at "+prm.Source)
	}
	rc, _ := client.CanonicalResource(prm.Resource)
	if rc == canon {
		r.ok(StepPRMResource, "resource "+prm.Resource+" is this URL")
	} else {
		r.ok(StepPRMResource, "resource "+prm.Resource+" covers this URL (a parent path)")
	}
	if len(prm.AuthorizationServers) == 0 {
		r.fail(StepPRMServers, "the metadata lists no authorization_servers: clients do not know where to sign in",
			"add authorization_servers: [\"<issuer URL>\"] to the protected resource metadata")
		r.skip("skipped: no authorization server", rest(StepASMetadata)...)
		return r, d
	}
	as := prm.AuthorizationServers[0]
	more := ""
	if len(prm.AuthorizationServers) > 1 {
		more = fmt.Sprintf(" (and %d more; clients use the first)", len(prm.AuthorizationServers)-1)
	}
	if _, v := entraTenant(as); v == 1 {
		r.fail(StepPRMServers, "authorization_servers names "+as+", the v1 token issuer of Entra ID: it is not an authorization server and publishes no metadata",
			"publish https://login.microsoftonline.com/<tenant>/v2.0 instead (mcpgate's entra: issuer preset does), or put mcpgate's authorization server in front")
		r.skip("skipped: no authorization server", rest(StepASMetadata)...)
		return r, d
	}
	r.ok(StepPRMServers, "authorization server "+as+more)

	// Authorization server metadata (RFC 8414, then OpenID Connect).
	m, err := c.DiscoverServer(ctx, as)
	if err != nil {
		fix := "serve RFC 8414 metadata whose issuer is exactly " + as + ", or OpenID Connect discovery, at the URLs clients try"
		if cands, cerr := client.ASCandidates(as); cerr == nil && strings.Contains(err.Error(), "publishes no metadata") {
			fix = "serve RFC 8414 metadata at " + cands[0] + " (or OpenID Connect discovery at " + cands[len(cands)-1] + "), or correct authorization_servers in the protected resource metadata"
		} else if strings.Contains(err.Error(), "names issuer") {
			fix = "make the metadata's issuer exactly " + as + " (RFC 8414 §3.3), or put the metadata's issuer in the protected resource's authorization_servers"
		}
		r.fail(StepASMetadata, err.Error(), fix)
		r.skip("skipped: no authorization server metadata", rest(StepPKCE)...)
		return r, d
	}
	d.Server = m
	kind := "RFC 8414"
	if strings.Contains(m.Source, "openid-configuration") {
		kind = "OpenID Connect discovery"
	}
	entra := isEntra(m.Issuer)
	r.ok(StepASMetadata, "issuer "+m.Issuer+", metadata at "+m.Source+" ("+kind+")")

	// PKCE.
	switch {
	case slices.Contains(m.CodeChallengeMethodsSupported, "S256"):
		r.ok(StepPKCE, "PKCE S256 advertised")
	case entra:
		r.warn(StepPKCE, "Entra ID supports PKCE S256 but does not advertise it; MCP 2025-11-25 clients refuse to sign in",
			"mcpgate login: --allow-missing-pkce-metadata; other clients: put mcpgate's authorization server in front of Entra (federation), which advertises S256")
	case len(m.CodeChallengeMethodsSupported) == 0:
		r.fail(StepPKCE, "the metadata has no code_challenge_methods_supported: MCP 2025-11-25 clients refuse to sign in",
			"advertise code_challenge_methods_supported: [\"S256\"] (and enforce PKCE) at the authorization server")
	default:
		r.fail(StepPKCE, "code_challenge_methods_supported is "+strings.Join(m.CodeChallengeMethodsSupported, ", ")+", without S256: clients refuse to sign in",
			"support and advertise PKCE S256 at the authorization server")
	}

	// Registration.
	var regs []string
	if m.ClientIDMetadataDocumentSupported {
		regs = append(regs, "client ID metadata documents (CIMD)")
	}
	if m.RegistrationEndpoint != "" {
		regs = append(regs, "dynamic registration at "+m.RegistrationEndpoint)
	}
	switch {
	case len(regs) > 0:
		r.ok(StepRegistration, "clients can register: "+strings.Join(regs, "; "))
	case entra:
		r.warn(StepRegistration, "Entra ID offers neither CIMD nor dynamic registration: every MCP client needs a pre-registered app (public client, loopback redirect)",
			"register a public client app in Entra and give its client id to the MCP client (mcpgate login --client-id …), or put mcpgate's authorization server in front, which offers CIMD and dynamic registration")
	default:
		r.warn(StepRegistration, "neither client_id_metadata_document_supported nor registration_endpoint: MCP clients need a pre-registered client id",
			"register a client at the authorization server and configure its client id in the MCP client (mcpgate login --client-id …), or enable CIMD or dynamic registration there")
	}

	// RFC 8707 resource.
	resource := prm.Resource
	if entra {
		r.warn(StepResourceIndicator, "the authorization server is Microsoft Entra ID: with v2 scopes it refuses resource="+resource+" unless that URL is one of the API app's identifierUris (AADSTS9010010)",
			"add "+resource+" to the API app's identifierUris (Expose an API > Application ID URI), or sign in with --resource api://<app-id> or --no-resource and scopes api://<app-id>/<scope>; mcpgate's authorization server federated to Entra avoids this")
	} else {
		r.ok(StepResourceIndicator, "clients send resource="+resource+" (RFC 8707); the authorization server is not Entra ID")
	}

	// Scopes.
	scopes := strings.Fields(ch.Scope)
	from := "the 401 challenge"
	if len(scopes) == 0 {
		scopes, from = prm.ScopesSupported, "scopes_supported"
	}
	var bare []string
	for _, s := range scopes {
		if !strings.Contains(s, "://") && !isGUID(strings.SplitN(s, "/", 2)[0]) && !slices.Contains([]string{"openid", "profile", "email", "offline_access"}, s) {
			bare = append(bare, s)
		}
	}
	switch {
	case len(scopes) == 0:
		r.ok(StepScopes, "no scope asked for (the challenge and scopes_supported name none)")
	case entra && len(bare) > 0:
		r.warn(StepScopes, "clients will ask Entra for "+strings.Join(bare, " ")+" (from "+from+"): bare scope names resolve to Microsoft Graph, so the token will not be for this API (AADSTS65001 or 70011, or a Graph token)",
			"publish fully qualified scopes (api://<app-id>/"+bare[0]+") in the challenge and scopes_supported")
	default:
		r.ok(StepScopes, "clients will ask for "+strings.Join(scopes, " ")+" (from "+from+")")
	}
	return r, d
}

func tlsProblem(err error) string {
	var ua x509.UnknownAuthorityError
	var he x509.HostnameError
	var ci x509.CertificateInvalidError
	var rh tls.RecordHeaderError
	var ve *tls.CertificateVerificationError
	switch {
	case errors.As(err, &ua):
		return "the server's certificate is signed by an authority this host does not trust: " + ua.Error()
	case errors.As(err, &he):
		return "the server's certificate is not for this host name: " + he.Error()
	case errors.As(err, &ci):
		return "the server's certificate is invalid: " + ci.Error()
	case errors.As(err, &rh):
		return "the server does not speak TLS on this port (is it plain http?)"
	case errors.As(err, &ve):
		return "TLS certificate verification failed: " + ve.Error()
	}
	return ""
}

func isLoopbackHost(h string) bool {
	return h == "localhost" || strings.HasPrefix(h, "127.") || h == "::1"
}
