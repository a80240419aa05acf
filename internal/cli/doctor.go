package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mcpgate/mcpgate/internal/aadsts"
	"github.com/mcpgate/mcpgate/internal/client"
	"github.com/mcpgate/mcpgate/internal/doctor"
)

func init() { register(newDoctorCmd) }

func newDoctorCmd() *cobra.Command {
	var f clientFlags
	var asJSON, login bool
	var configFile string
	cmd := &cobra.Command{
		Use:   "doctor URL | doctor --config FILE",
		Short: "Say why sign-in to an MCP server fails and what to change",
		Long: `doctor runs, in order, the checks an MCP client makes before it can sign in: reachability
and TLS, the 401 and its WWW-Authenticate challenge, the protected resource metadata and its
resource, the authorization server's metadata, PKCE S256, client registration and, for
Microsoft Entra ID, the resource parameter. Each step prints ✓ (ok), ✗ (failed) or ! (warning)
with one line of finding and one line of fix. The exit status is 1 when a step failed.

With --login it then signs in (the options of mcpgate login apply), checks the token it
received and lists the tools.

With --config instead of a URL it is the operator's view of a configuration file: each
issuer's discovery and key set, issuer strings and audiences that Entra tokens will actually
carry, scopes advertised to Entra clients and those policy require rules demand, the
authServer connectors (discovery, the redirect URI mcpgate sends, the client secret), each
route's upstream credential (token endpoint, client credentials, and for On-Behalf-Of the
target scope and admin consent), the store, Redis and the sealing keys.

See docs/doctor.md for every check.`,
		Example: `  mcpgate doctor https://mcp.example.com/weather/mcp
  mcpgate doctor https://mcp.example.com/weather/mcp --json
  mcpgate doctor https://mcp.example.com/weather/mcp --login --client-id 0c11e470-…
  mcpgate doctor --config mcpgate.yaml
  mcpgate doctor token --url https://mcp.example.com/weather/mcp < token.txt
  mcpgate doctor aadsts 65001
  mcpgate doctor entra --app app.json --api api.json`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			o := doctor.Options{}
			if (len(args) == 1) == (configFile != "") {
				return errors.New("give an MCP server URL (the client's view) or --config FILE (the operator's view)")
			}
			if configFile != "" {
				if login {
					return errors.New("--login goes with a URL, not with --config")
				}
				return writeReport(cmd, doctor.CheckConfig(ctx, configFile, o), asJSON)
			}
			r, d := doctor.CheckURL(ctx, args[0], o)
			if login {
				if r.Failed() {
					r.Steps = append(r.Steps, doctor.Step{ID: doctor.StepLogin, Status: doctor.StatusSkip, Finding: "skipped: fix the failed steps first"})
				} else {
					r.Append(doctor.CheckLogin(ctx, d, f.options(cmd, args[0]), o))
				}
			}
			return writeReport(cmd, r, asJSON)
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the steps as a JSON array of {id, status, finding, fix}")
	cmd.Flags().BoolVar(&login, "login", false, "sign in after the checks, check the token received and list the tools")
	cmd.Flags().StringVar(&configFile, "config", "", "check this mcpgate configuration file against the live IdPs and services instead of a URL")
	cmd.AddCommand(newDoctorTokenCmd(), newDoctorAADSTSCmd(), newDoctorEntraCmd())
	return cmd
}

func writeReport(cmd *cobra.Command, r *doctor.Report, asJSON bool) error {
	var err error
	if asJSON {
		err = r.WriteJSON(cmd.OutOrStdout())
	} else {
		err = r.WriteText(cmd.OutOrStdout())
	}
	if err != nil {
		return err
	}
	if r.Failed() {
		return exitError{code: 1}
	}
	return nil
}

func newDoctorTokenCmd() *cobra.Command {
	var serverURL, configFile, route string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Explain whether the gateway would accept the access token read from stdin",
		Long: `token reads one access token from standard input and explains, claim by claim, whether the
gateway in front of --url (read from its metadata) or the route of --config would accept it:
form, ID token vs access token, issuer (Entra v1 vs v2), ver, audience, expiry, clock skew,
scopes and the signature (verified when the issuer's key set is reachable).

The token is never sent anywhere and never printed; only the issuer's public keys and the
server's metadata are fetched.`,
		Example: `  mcpgate token https://mcp.example.com/weather/mcp | mcpgate doctor token --url https://mcp.example.com/weather/mcp
  mcpgate doctor token --config mcpgate.yaml --route weather < token.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (serverURL == "") == (configFile == "") {
				return errors.New("give exactly one of --url and --config")
			}
			b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 64<<10))
			if err != nil {
				return fmt.Errorf("reading the token from stdin: %w", err)
			}
			tok := strings.TrimSpace(string(b))
			if tok == "" {
				return errors.New("no token on stdin: pipe the access token in (mcpgate doctor token --url URL < token.txt)")
			}
			ctx := cmd.Context()
			o := doctor.Options{}
			var t *doctor.Target
			if serverURL != "" {
				t, err = doctor.TargetFromURL(ctx, serverURL, o)
			} else {
				claims, _ := client.DecodeClaims(strings.TrimPrefix(tok, "Bearer "))
				t, err = doctor.TargetFromConfig(ctx, configFile, route, claims, o)
			}
			if err != nil {
				return err
			}
			return writeReport(cmd, doctor.CheckToken(ctx, tok, t, o), asJSON)
		},
	}
	cmd.Flags().StringVar(&serverURL, "url", "", "MCP server URL whose metadata says what is accepted")
	cmd.Flags().StringVar(&configFile, "config", "", "mcpgate configuration file whose route says what is accepted")
	cmd.Flags().StringVar(&route, "route", "", "route name in --config (default: the only route, or the one the token's aud names)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the steps as a JSON array of {id, status, finding, fix}")
	return cmd
}

func newDoctorEntraCmd() *cobra.Command {
	var appFile, apiFile, configFile string
	var versions []int
	var asJSON, connector bool
	cmd := &cobra.Command{
		Use:   "entra --app app.json [--api api.json]",
		Short: "Check Entra ID app registrations (az ad app show / Graph JSON) for the settings that break sign-in",
		Long: `entra reads app registrations as Microsoft Graph (GET /v1.0/applications/{id}) or
az ad app show print them — or the legacy manifest — and checks, offline, the settings that
break single sign-on: the access token version against what the gateway accepts, identifier
URIs, exposed scopes and who can consent to them, pre-authorized and known client applications
(the "second user" case), the client's API permissions against what the API exposes, redirect
URIs by platform, the implicit grant, secrets and certificates (expired, or expiring within 30
days) and, for a Copilot Studio / Power Platform custom connector's app, Azure API Connections
as an authorized client.

--app is the client's registration (an MCP client's, or the connector's); --api the API's
(the gateway's). With --app alone, that app is checked as both. --config names the gateway's
configuration, whose entra: issuer for the API says which token versions it accepts; or give
--versions. See docs/doctor.md.`,
		Example: `  az ad app show --id <client-app-id> > app.json; az ad app show --id <api-app-id> > api.json
  mcpgate doctor entra --app app.json --api api.json --config mcpgate.yaml
  mcpgate doctor entra --app connector.json --copilot
  mcpgate entra-emulator export --config entra.yaml --app "Weather CLI" > app.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if appFile == "" {
				return errors.New("give --app app.json (az ad app show --id <appId> > app.json)")
			}
			app, err := os.ReadFile(appFile)
			if err != nil {
				return err
			}
			var api []byte
			if apiFile != "" {
				if api, err = os.ReadFile(apiFile); err != nil {
					return err
				}
			}
			for _, v := range versions {
				if v != 1 && v != 2 {
					return fmt.Errorf("--versions: %d is not a token version (1 or 2)", v)
				}
			}
			r := doctor.CheckEntraApps(appFile, app, apiFile, api, doctor.EntraAppOptions{Config: configFile, Versions: versions, Connector: connector})
			return writeReport(cmd, r, asJSON)
		},
	}
	cmd.Flags().StringVar(&appFile, "app", "", "the client's app registration (JSON of az ad app show or Graph GET /applications/{id})")
	cmd.Flags().StringVar(&apiFile, "api", "", "the API's app registration (the gateway's), same form")
	cmd.Flags().StringVar(&configFile, "config", "", "the gateway's mcpgate.yaml: its entra: issuer for the API says which token versions it accepts")
	cmd.Flags().IntSliceVar(&versions, "versions", nil, "the access token versions the gateway accepts (2, or 1,2) instead of --config's")
	cmd.Flags().BoolVar(&connector, "copilot", false, "--app is a Copilot Studio / Power Platform custom connector's app (detected from its redirect URL otherwise)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the steps as a JSON array of {id, status, finding, fix}")
	return cmd
}

func newDoctorAADSTSCmd() *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "aadsts [CODE]",
		Short: "Explain a Microsoft Entra ID AADSTS error code, or a pasted error (stdin)",
		Example: `  mcpgate doctor aadsts 65001
  mcpgate doctor aadsts AADSTS9010010
  pbpaste | mcpgate doctor aadsts
  mcpgate doctor aadsts --all`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			if all {
				tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "CODE\tERROR\tCAUSE")
				for _, c := range aadsts.Codes() {
					e, _ := aadsts.Explain(c)
					fmt.Fprintf(tw, "AADSTS%d\t%s\t%s\n", c, e.Error, e.Cause)
				}
				return tw.Flush()
			}
			var text string
			if len(args) == 1 {
				text = args[0]
			} else {
				b, err := io.ReadAll(io.LimitReader(cmd.InOrStdin(), 1<<20))
				if err != nil {
					return fmt.Errorf("reading the error from stdin: %w", err)
				}
				text = string(b)
			}
			codes := aadsts.Parse(text)
			if len(codes) == 0 {
				return errors.New("no AADSTS code found: give the number (65001), AADSTS65001, or paste the error body on stdin")
			}
			unknown := false
			for i, c := range codes {
				if i > 0 {
					fmt.Fprintln(out)
				}
				e, ok := aadsts.Explain(c)
				if !ok {
					unknown = true
					fmt.Fprintf(out, "AADSTS%d: not in mcpgate's table; see https://login.microsoftonline.com/error?code=%d\n", c, c)
					continue
				}
				fmt.Fprintf(out, "AADSTS%d (%s)\n  cause: %s\n  fix:   %s\n", c, e.Error, e.Cause, e.Fix)
			}
			if unknown && len(codes) == 1 {
				return exitError{code: 1}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "list every code the table explains")
	return cmd
}
