package cli

import (
	"errors"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/mcpgate/mcpgate/internal/client"
)

// enterpriseFlags turn on enterprise-managed authorization (docs/enterprise-managed-authorization.md)
// for login, stdio, tools and call. The environment variables let an MCP host that starts
// `mcpgate stdio` set them once.
type enterpriseFlags struct {
	on                     bool
	idp                    string
	clientID, secret       string
	redirectPort           int
	redirectPortFromEnvErr error
}

func (e *enterpriseFlags) add(cmd *cobra.Command) {
	fs := cmd.Flags()
	port, err := 0, error(nil)
	if v := os.Getenv("MCPGATE_IDP_REDIRECT_PORT"); v != "" {
		port, err = strconv.Atoi(v)
	}
	e.redirectPortFromEnvErr = err
	fs.BoolVar(&e.on, "enterprise", os.Getenv("MCPGATE_IDP") != "", "sign in once at the enterprise IdP and get tokens for MCP servers through it (ID-JAG), falling back to the ordinary sign-in where a server does not support it (default: on when $MCPGATE_IDP is set)")
	fs.StringVar(&e.idp, "idp", os.Getenv("MCPGATE_IDP"), "issuer URL of the enterprise IdP (default $MCPGATE_IDP)")
	fs.StringVar(&e.clientID, "idp-client-id", os.Getenv("MCPGATE_IDP_CLIENT_ID"), "this client's client_id at the enterprise IdP (default $MCPGATE_IDP_CLIENT_ID)")
	fs.StringVar(&e.secret, "idp-client-secret", os.Getenv("MCPGATE_IDP_CLIENT_SECRET"), "this client's secret at the enterprise IdP (default $MCPGATE_IDP_CLIENT_SECRET)")
	fs.IntVar(&e.redirectPort, "idp-redirect-port", port, "loopback port of the redirect URI registered at the IdP, http://127.0.0.1:PORT/callback (default $MCPGATE_IDP_REDIRECT_PORT)")
}

func (e *enterpriseFlags) check() error {
	if !e.on {
		return nil
	}
	switch {
	case e.redirectPortFromEnvErr != nil:
		return errors.New("MCPGATE_IDP_REDIRECT_PORT is not a port number")
	case e.idp == "":
		return errors.New("--enterprise needs --idp (the enterprise IdP's issuer URL)")
	case e.clientID == "" || e.secret == "":
		return errors.New("--enterprise needs --idp-client-id and --idp-client-secret (a confidential client at the IdP allowed to exchange tokens for ID-JAGs)")
	}
	return nil
}

func (e *enterpriseFlags) options() *client.Enterprise {
	if !e.on {
		return nil
	}
	return &client.Enterprise{IdP: e.idp, ClientID: e.clientID, ClientSecret: e.secret, RedirectPort: e.redirectPort}
}
