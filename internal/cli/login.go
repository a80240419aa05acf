package cli

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/mcpgate/mcpgate/internal/client"
	"github.com/spf13/cobra"
)

func init() {
	register(newLoginCmd)
	register(newLogoutCmd)
	register(newTokenCmd)
}

func newLoginCmd() *cobra.Command {
	var f clientFlags
	var force bool
	cmd := &cobra.Command{
		Use:   "login URL",
		Short: "Sign in to an MCP server (OAuth, MCP authorization spec) and cache the token",
		Long: `Sign in to a protected MCP server the way the MCP authorization spec describes: discover its
protected resource metadata and authorization server, register (pre-registered client, client ID
metadata document, or dynamic registration), and run the authorization code flow with PKCE in
your browser (loopback redirect) or, with --device, the device code flow. The token is cached
per server in your config folder and refreshed before it expires; stdio, tools and call reuse it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.newClient(cmd, args[0])
			if err != nil {
				return err
			}
			ch, err := probeChallenge(cmd, c)
			if err != nil {
				return fmt.Errorf("reaching %s: %w", args[0], err)
			}
			if ch.Status/100 == 2 && !force {
				fmt.Fprintf(cmd.OutOrStdout(), "%s answered without asking for sign-in; nothing to do (use --force to sign in anyway)\n", args[0])
				return nil
			}
			tok, err := c.Login(cmd.Context(), ch, "", force)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Signed in to %s", args[0])
			if !tok.Expiry.IsZero() {
				fmt.Fprintf(cmd.OutOrStdout(), " (token expires %s)", tok.Expiry.Local().Format(time.RFC3339))
			}
			fmt.Fprintln(cmd.OutOrStdout())
			return nil
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&force, "force", false, "sign in again even if a valid token is cached")
	return cmd
}

// probeChallenge sends an unauthenticated initialize to the server to read its 401 challenge
// (resource_metadata URL and scope). A server that does not challenge gives a zero Challenge.
func probeChallenge(cmd *cobra.Command, c *client.Client) (client.Challenge, error) {
	return client.Probe(cmd.Context(), nil, c.ServerURL())
}

func newLogoutCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "logout URL",
		Short: "Forget the cached sign-in for an MCP server",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.newClient(cmd, args[0])
			if err != nil {
				return err
			}
			had, err := c.Logout(cmd.Context())
			if err != nil {
				return err
			}
			if had {
				fmt.Fprintf(cmd.OutOrStdout(), "Signed out of %s\n", args[0])
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "Not signed in to %s\n", args[0])
			}
			return nil
		},
	}
	f.add(cmd)
	return cmd
}

func newTokenCmd() *cobra.Command {
	root := &cobra.Command{Use: "token", Short: "Inspect cached tokens"}
	var f clientFlags
	var raw, asJSON bool
	show := &cobra.Command{
		Use:   "show URL",
		Short: "Show the cached token for an MCP server: decoded claims and expiry (not the token itself unless --raw)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.newClient(cmd, args[0])
			if err != nil {
				return err
			}
			e, err := c.Entry()
			if err != nil {
				return err
			}
			if e == nil {
				return fmt.Errorf("not signed in to %s; run `mcpgate login %s`", args[0], args[0])
			}
			claims, cerr := client.DecodeClaims(e.Token.AccessToken)
			out := cmd.OutOrStdout()
			if asJSON {
				v := map[string]any{
					"server": e.ServerURL, "resource": e.Resource, "issuer": e.Server.Issuer,
					"client_id": e.Registration.ClientID, "registration": e.Registration.Kind,
					"scope": e.Token.Scope, "has_refresh_token": e.Token.RefreshToken != "",
				}
				if !e.Token.Expiry.IsZero() {
					v["expiry"] = e.Token.Expiry
				}
				if claims != nil {
					v["claims"] = claims
				}
				if raw {
					v["access_token"] = e.Token.AccessToken
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(v)
			}
			fmt.Fprintf(out, "Server:        %s\n", e.ServerURL)
			fmt.Fprintf(out, "Resource:      %s\n", orNone(e.Resource))
			fmt.Fprintf(out, "Issuer:        %s\n", e.Server.Issuer)
			fmt.Fprintf(out, "Client:        %s (%s)\n", e.Registration.ClientID, e.Registration.Kind)
			fmt.Fprintf(out, "Scope:         %s\n", orNone(e.Token.Scope))
			if e.Token.Expiry.IsZero() {
				fmt.Fprintf(out, "Expires:       unknown\n")
			} else {
				state := "valid for " + time.Until(e.Token.Expiry).Round(time.Second).String()
				if time.Now().After(e.Token.Expiry) {
					state = "EXPIRED"
				}
				fmt.Fprintf(out, "Expires:       %s (%s)\n", e.Token.Expiry.Local().Format(time.RFC3339), state)
			}
			fmt.Fprintf(out, "Refresh token: %v\n", e.Token.RefreshToken != "")
			if cerr != nil {
				fmt.Fprintf(out, "Claims:        (%v)\n", cerr)
			} else {
				fmt.Fprintln(out, "Claims:")
				for _, k := range slices.Sorted(maps.Keys(claims)) {
					v := claims[k]
					if n, ok := v.(float64); ok && (k == "exp" || k == "iat" || k == "nbf" || k == "auth_time") {
						fmt.Fprintf(out, "  %-12s %v (%s)\n", k+":", int64(n), time.Unix(int64(n), 0).Local().Format(time.RFC3339))
						continue
					}
					b, _ := json.Marshal(v)
					fmt.Fprintf(out, "  %-12s %s\n", k+":", b)
				}
			}
			if raw {
				fmt.Fprintf(out, "Access token:  %s\n", e.Token.AccessToken)
			}
			return nil
		},
	}
	f.add(show)
	show.Flags().BoolVar(&raw, "raw", false, "also print the raw access token (keep it secret)")
	show.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	root.AddCommand(show)
	return root
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
