package demo

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/mcpgate/mcpgate/internal/config"
)

// The demo's Entra directory ("Contoso", served by the Entra profile under /entra). The ids
// are fixed so that tokens and stored connections keep their meaning across restarts.
const (
	ContosoTenant = "7a1e5f00-0000-4000-8000-00000000c0de"
	// ContosoConnectorName is the connector's name on mcpgate's login page
	// ("Sign in with Contoso (Entra emulator)").
	ContosoConnectorName = "Contoso (Entra emulator)"
	// FilesAPIClientID is the Files API app: the audience (v2) of the files route's OBO token.
	FilesAPIClientID = "f11e5a91-0000-4000-8000-0000000000f1"
	// TasksAPIURI is the Tasks service's App ID URI: the audience (v1) of the tasks route's
	// connection token.
	TasksAPIURI = "api://tasks"

	mcpgateAppID     = "3f6c0a5e-0000-4000-8000-0000000000a1"
	tasksAppID       = "7a5c0000-0000-4000-8000-0000000000d1"
	tasksClientAppID = "7a5c0000-0000-4000-8000-0000000000d2"
	engineeringGroup = "e9e00000-0000-4000-8000-0000000000e9"
	financeGroup     = "f1a00000-0000-4000-8000-0000000000f1"
	contosoDomain    = "contoso.onmicrosoft.com"
)

var contosoOIDs = map[string]string{
	"alice": "4b1d9c1e-0000-4000-8000-00000000a11c",
	"bob":   "b0b00000-0000-4000-8000-00000000b0b0",
}

// ContosoUPN is the demo user's sign-in name in the Contoso directory.
func ContosoUPN(username string) string { return username + "@" + contosoDomain }

// Secrets are the demo's generated secrets, kept in the data folder so that restarts keep
// stored tokens readable and signed tokens verifiable.
type Secrets struct {
	// MCPGateApp is the client secret of the "mcpgate" app in Contoso (sign-in and OBO).
	MCPGateApp string `json:"mcpgateApp"`
	// TasksClient is the client secret of mcpgate's client at the Tasks service.
	TasksClient string `json:"tasksClient"`
	// KeysFile seals stored tokens (upstreamCredentials.secrets.keysFile).
	KeysFile string `json:"-"`
	// EntraSigningKey signs the Entra profile's tokens.
	EntraSigningKey string `json:"-"`
}

// ensureSecrets creates the demo's secrets on first start and reads them afterwards.
func ensureSecrets(dataDir string) (Secrets, error) {
	s := Secrets{KeysFile: filepath.Join(dataDir, "secret-keys"), EntraSigningKey: filepath.Join(dataDir, "entra-signing.pem")}
	path := filepath.Join(dataDir, "entra-secrets.json")
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &s); err != nil || s.MCPGateApp == "" || s.TasksClient == "" {
			return s, fmt.Errorf("%s is damaged: delete it (the demo makes a new one)", path)
		}
	case errors.Is(err, os.ErrNotExist):
		s.MCPGateApp, s.TasksClient = randomSecret(), randomSecret()
		b, _ = json.Marshal(s)
		if err := os.WriteFile(path, b, 0o600); err != nil {
			return s, fmt.Errorf("writing the demo's Entra secrets: %w", err)
		}
	default:
		return s, err
	}
	if err := ensureFile(s.KeysFile, func() ([]byte, error) {
		k := make([]byte, 32)
		rand.Read(k)
		return []byte("demo1:" + base64.StdEncoding.EncodeToString(k) + "\n"), nil
	}); err != nil {
		return s, fmt.Errorf("writing the demo's sealing key: %w", err)
	}
	if err := ensureFile(s.EntraSigningKey, func() ([]byte, error) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			return nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
	}); err != nil {
		return s, fmt.Errorf("writing the demo's Entra signing key: %w", err)
	}
	return s, nil
}

// ensureFile writes make's output to path (mode 0600) unless the file exists.
func ensureFile(path string, make func() ([]byte, error)) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	b, err := make()
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

func randomSecret() string {
	b := make([]byte, 24)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// contosoDirectory is the Entra profile: the Contoso tenant with the demo users (same
// passwords and groups as the local accounts), mcpgate's app, the Files API it calls
// On-Behalf-Of the user, and the Tasks service with mcpgate's client there.
func contosoDirectory(base string, users []DemoUser, s Secrets) *config.Entra {
	t := config.EntraTenant{
		ID: ContosoTenant, Domains: []string{contosoDomain}, DisplayName: "Contoso",
		Groups: []config.EntraGroup{{ID: engineeringGroup, DisplayName: "engineering"}, {ID: financeGroup, DisplayName: "finance"}},
		// API permissions > "Grant admin consent for Contoso" on both clients.
		AdminConsent: []string{"mcpgate", "mcpgate at Tasks"},
	}
	for _, u := range users {
		t.Users = append(t.Users, config.EntraUser{
			ObjectID: contosoOIDs[u.Username], UserPrincipalName: ContosoUPN(u.Username), DisplayName: u.Name,
			Mail: u.Username + "@contoso.com", Password: u.Password, Groups: u.Groups,
		})
	}
	return &config.Entra{
		Tenants:        []config.EntraTenant{t},
		SigningKeyFile: s.EntraSigningKey,
		Apps: []config.EntraApp{
			{
				// mcpgate itself: users sign in to it (bridge mode) and it calls the Files API
				// On-Behalf-Of them.
				Name: "mcpgate", ClientID: mcpgateAppID,
				RedirectURIs:               []string{base + "/login/callback"},
				IdentifierURIs:             []string{"api://mcpgate"},
				Scopes:                     []config.EntraScope{{Value: "access_as_user", Description: "Use MCP servers through mcpgate as you"}},
				AccessTokenAcceptedVersion: 2,
				Secrets:                    []config.EntraSecret{{Value: s.MCPGateApp}},
				RequiredResourceAccess:     []config.EntraRequiredAccess{{Resource: "api://files", Scopes: []string{"access_as_user"}}},
			},
			{
				// The files route's upstream API: v2 tokens, aud = its client id.
				Name: "Files API", ClientID: FilesAPIClientID,
				IdentifierURIs:             []string{"api://files"},
				Scopes:                     []config.EntraScope{{Value: "access_as_user", Description: "Read your files"}},
				AccessTokenAcceptedVersion: 2,
				GroupMembershipClaims:      "SecurityGroup",
			},
			{
				// A third-party service with its own sign-in (here also Contoso): v1 tokens,
				// aud = api://tasks.
				Name: "Tasks service", ClientID: tasksAppID,
				IdentifierURIs: []string{TasksAPIURI},
				Scopes:         []config.EntraScope{{Value: "access_as_user", Description: "Read and update your tasks"}},
			},
			{
				// mcpgate's client registration at the Tasks service (connection provider).
				Name: "mcpgate at Tasks", ClientID: tasksClientAppID,
				RedirectURIs:           []string{base + "/connections/tasks/callback"},
				Secrets:                []config.EntraSecret{{Value: s.TasksClient}},
				RequiredResourceAccess: []config.EntraRequiredAccess{{Resource: TasksAPIURI, Scopes: []string{"access_as_user"}}},
			},
		},
	}
}

// addContoso adds the Entra profile, the "Sign in with Contoso" connector and the files
// (OBO) and tasks (connection) routes to the demo configuration.
func addContoso(cfg *config.Config, upstreams map[string]string, users []DemoUser, s Secrets) {
	base := strings.TrimRight(cfg.PublicURL, "/")
	authority := base + "/entra"
	cfg.Entra = contosoDirectory(base, users, s)
	localLogin := true
	cfg.AuthServer.LocalLogin = &localLogin
	cfg.AuthServer.Connectors = []config.AuthServerConnector{{
		ID: "contoso", Type: config.ConnectorEntra, Name: ContosoConnectorName,
		ClientID: mcpgateAppID, ClientSecret: s.MCPGateApp, Scopes: []string{"access_as_user"},
		Entra: &config.EntraConnector{Tenant: ContosoTenant, AppIDURI: "api://mcpgate", Authority: authority},
		// The demo's "identity provider" is this same process on loopback over http, which
		// the connector's SSRF guard refuses unless told otherwise. Demo only.
		AllowPrivateAddresses: true,
	}}
	cfg.Routes = append(cfg.Routes,
		config.Route{
			Name: "files", Path: "/files/mcp",
			Upstream: config.Upstream{URL: upstreams["files"]},
			Auth:     config.Auth{Mode: "strict"},
			// The user's Contoso token (kept sealed since sign-in) is exchanged for a Files
			// API token: the upstream sees its own audience and the user.
			UpstreamAuth: &config.UpstreamAuth{OBO: &config.OBOAuth{
				Tenant: ContosoTenant, Authority: authority, ClientID: mcpgateAppID, ClientSecret: s.MCPGateApp,
				Scope: "api://files/.default",
			}},
		},
		config.Route{
			Name: "tasks", Path: "/tasks/mcp",
			Upstream:     config.Upstream{URL: upstreams["tasks"]},
			Auth:         config.Auth{Mode: "strict"},
			UpstreamAuth: &config.UpstreamAuth{Connection: &config.ConnectionAuth{Provider: "tasks"}},
		},
	)
	uc := cfg.UpstreamCredentials
	uc.Secrets = &config.SecretKeys{KeysFile: s.KeysFile}
	uc.Connections = append(uc.Connections, config.ConnectionProvider{
		Name: "tasks", DisplayName: "Tasks",
		AuthorizeURL: authority + "/" + ContosoTenant + "/oauth2/v2.0/authorize",
		TokenURL:     authority + "/" + ContosoTenant + "/oauth2/v2.0/token",
		ClientID:     tasksClientAppID, ClientSecret: s.TasksClient,
		Scopes: []string{TasksAPIURI + "/access_as_user", "offline_access"},
	})
}

// printContoso explains the files and tasks routes in the welcome text.
func printContoso(w io.Writer, info Info) {
	fmt.Fprintf(w, "\nActing as the user upstream: files and tasks are whoami servers that show the token they receive.\n"+
		"Their identity provider is an Entra ID emulator, tenant Contoso, at %s/entra: users %s, %s, same passwords.\n",
		info.BaseURL, ContosoUPN("alice"), ContosoUPN("bob"))
	fmt.Fprintf(w, "  files  On-Behalf-Of: choose \"Sign in with %s\" on the sign-in page; mcpgate exchanges your\n"+
		"         Contoso token for a Files API token (api://files) as you. After a local sign-in the call fails:\n"+
		"         a local account has no Contoso token to exchange. Sign in again with Contoso\n"+
		"         (`mcpgate logout URL`, or remove the client's saved token).\n", ContosoConnectorName)
	fmt.Fprintf(w, "  tasks  a connection to the Tasks service: until you link your Tasks account, requests answer\n"+
		"         with a link; open it, press Connect, sign in at Contoso, then retry. Your links: %s/connections/\n", info.BaseURL)
}
