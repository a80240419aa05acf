package cli

import (
	"log/slog"
	"os"
	"strings"

	"github.com/mcpgate/mcpgate/internal/client"
	"github.com/spf13/cobra"
)

// clientFlags are the sign-in flags shared by login, logout, token, stdio, tools and call.
type clientFlags struct {
	clientID, clientSecret, clientMetadataURL string
	resource                                  string
	noResource                                bool
	scopes                                    []string
	allowMissingPKCE                          bool
	redirectPort                              int
	device, noBrowser                         bool
	cacheDir                                  string
	verbose                                   bool
	enterprise                                enterpriseFlags
}

func (f *clientFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	fs.StringVar(&f.clientID, "client-id", "", "pre-registered OAuth client_id (skips dynamic registration)")
	fs.StringVar(&f.clientSecret, "client-secret", os.Getenv("MCPGATE_CLIENT_SECRET"), "secret of the pre-registered client (default $MCPGATE_CLIENT_SECRET)")
	fs.StringVar(&f.clientMetadataURL, "client-metadata-url", "", "https URL of this client's Client ID Metadata Document, used as client_id when the server supports it")
	fs.StringVar(&f.resource, "resource", "", "RFC 8707 resource to request (default: the server's protected resource metadata, else the URL); e.g. api://<app-id> for Entra")
	fs.BoolVar(&f.noResource, "no-resource", false, "do not send the resource parameter (Entra v2 apps without the MCP URL in identifierUris)")
	fs.StringSliceVar(&f.scopes, "scope", nil, "scopes to request (default: the server's challenge, else its scopes_supported); repeatable or comma-separated")
	fs.BoolVar(&f.allowMissingPKCE, "allow-missing-pkce-metadata", false, "sign in even if the authorization server does not advertise PKCE S256 (Microsoft Entra ID)")
	fs.IntVar(&f.redirectPort, "redirect-port", 0, "fixed loopback port for the sign-in redirect http://127.0.0.1:PORT/callback (default: random)")
	fs.BoolVar(&f.device, "device", false, "sign in with a device code instead of a browser redirect")
	fs.BoolVar(&f.noBrowser, "no-browser", false, "print the sign-in URL without opening a browser")
	fs.StringVar(&f.cacheDir, "token-cache", "", "token cache folder (default <user config dir>/mcpgate/tokens)")
	fs.BoolVarP(&f.verbose, "verbose", "v", false, "log discovery and sign-in steps to stderr")
	f.enterprise.add(cmd) // client_flags_enterprise.go
}

func (f *clientFlags) options(cmd *cobra.Command, serverURL string) client.Options {
	level := "warn"
	if f.verbose {
		level = "debug"
	}
	var scopes []string
	for _, s := range f.scopes {
		scopes = append(scopes, strings.Fields(s)...)
	}
	return client.Options{
		ServerURL:                serverURL,
		ClientID:                 f.clientID,
		ClientSecret:             f.clientSecret,
		ClientMetadataURL:        f.clientMetadataURL,
		Resource:                 f.resource,
		NoResource:               f.noResource,
		Scopes:                   scopes,
		AllowMissingPKCEMetadata: f.allowMissingPKCE,
		RedirectPort:             f.redirectPort,
		Device:                   f.device,
		NoBrowser:                f.noBrowser,
		CacheDir:                 f.cacheDir,
		Prompt:                   cmd.ErrOrStderr(),
		Logger:                   clientLogger(cmd, level),
		Enterprise:               f.enterprise.options(),
	}
}

func clientLogger(cmd *cobra.Command, level string) *slog.Logger {
	return newLogger(cmd.ErrOrStderr(), "text", level)
}

func (f *clientFlags) newClient(cmd *cobra.Command, serverURL string) (*client.Client, error) {
	if err := f.enterprise.check(); err != nil {
		return nil, err
	}
	return client.New(f.options(cmd, serverURL))
}
