package cli

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpgate/mcpgate/internal/authserver/entraemulator"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/httplimit"
)

func init() { register(newEntraEmulatorCmd) }

func newEntraEmulatorCmd() *cobra.Command {
	var (
		cfgFile, addr, certFile, keyFile, caOut, baseURL, logFormat, logLevel string
		plainHTTP                                                             bool
	)
	cmd := &cobra.Command{
		Use:   "entra-emulator",
		Short: "Serve an offline Entra ID (login.microsoftonline.com) emulator from a file of tenants, apps and users",
		Long: `Serves an emulator of the Microsoft identity platform: /{tenant}/oauth2/v2.0/authorize|token|devicecode,
/{tenant}/v2.0/.well-known/openid-configuration, /{tenant}/discovery/v2.0/keys and the v1 forms, with
v1/v2 tokens, On-Behalf-Of, consent, Conditional Access and AADSTS errors. See docs/entra-emulator.md.

MSAL insists on https, so the emulator serves TLS. Without --tls-cert it creates a self-signed
certificate for 127.0.0.1 and localhost and writes it to --ca-out for curl --cacert or
NODE_EXTRA_CA_CERTS.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log := newLogger(cmd.ErrOrStderr(), logFormat, logLevel)
			ec, warnings, err := config.LoadEntra(cfgFile)
			for _, w := range warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
			}
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitError{code: 1}
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return fmt.Errorf("listening on %s: %w", addr, err)
			}
			scheme := "https"
			if plainHTTP {
				scheme = "http"
			}
			if baseURL == "" {
				baseURL = scheme + "://" + ln.Addr().String()
			}
			em, err := entraemulator.New(entraemulator.Options{Config: ec, BaseURL: baseURL, Logger: log})
			if err != nil {
				ln.Close()
				return err
			}
			srv := &http.Server{Handler: httplimit.Body(em.Handler(), httplimit.BodyOptions{}), ReadHeaderTimeout: 10 * time.Second}
			if !plainHTTP {
				var cert tls.Certificate
				if certFile != "" {
					if cert, err = tls.LoadX509KeyPair(certFile, keyFile); err != nil {
						ln.Close()
						return fmt.Errorf("loading TLS certificate: %w", err)
					}
				} else {
					var pemCert []byte
					if cert, pemCert, err = selfSignedCert(); err != nil {
						ln.Close()
						return err
					}
					if err := os.WriteFile(caOut, pemCert, 0o644); err != nil {
						ln.Close()
						return fmt.Errorf("writing %s: %w", caOut, err)
					}
					fmt.Fprintf(cmd.OutOrStdout(), "self-signed TLS certificate written to %s (curl --cacert %s, NODE_EXTRA_CA_CERTS=%s)\n", caOut, caOut, caOut)
				}
				ln = tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
			}
			for _, t := range ec.Tenants {
				fmt.Fprintf(cmd.OutOrStdout(), "tenant %s %v: authority %s/%s\n", t.ID, t.Domains, baseURL, t.ID)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Entra ID emulator listening on %s\n", baseURL)
			errc := make(chan error, 1)
			go func() { errc <- srv.Serve(ln) }()
			select {
			case err := <-errc:
				return err
			case <-cmd.Context().Done():
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
					return err
				}
				return nil
			}
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfgFile, "config", "entra.yaml", "emulator file: tenants, apps and users (the entra section of mcpgate.yaml at the top level)")
	f.StringVar(&addr, "addr", "127.0.0.1:8443", "listen address")
	f.StringVar(&certFile, "tls-cert", "", "TLS certificate (PEM); default: a generated self-signed certificate")
	f.StringVar(&keyFile, "tls-key", "", "TLS private key (PEM) for --tls-cert")
	f.StringVar(&caOut, "ca-out", "entra-emulator-ca.pem", "where to write the generated self-signed certificate")
	f.StringVar(&baseURL, "base-url", "", "external base URL (default scheme://addr)")
	f.BoolVar(&plainHTTP, "http", false, "serve plain HTTP (curl only: MSAL refuses http authorities)")
	f.StringVar(&logFormat, "log-format", "text", "json or text")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	cmd.AddCommand(newEntraExportCmd())
	return cmd
}

func newEntraExportCmd() *cobra.Command {
	var cfgFile, appRef string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Print the emulator's app registrations as Microsoft Graph returns them (az ad app show), for mcpgate doctor entra",
		Long: `export prints the app registrations of an emulator file in the JSON form of Microsoft Graph's
GET /v1.0/applications/{id} (what az ad app show prints): appId, identifierUris,
api.requestedAccessTokenVersion, api.oauth2PermissionScopes, api.preAuthorizedApplications,
api.knownClientApplications, requiredResourceAccess, web/spa/publicClient redirect URIs,
implicitGrantSettings, and the metadata of passwordCredentials and keyCredentials (never a
secret's value). With --app, the one registration; without, a JSON array of all of them.

A running emulator serves the same documents at {base}/v1.0/applications/{id} to a Graph
token with Application.Read.All.`,
		Example: `  mcpgate entra-emulator export --config entra.yaml --app "Weather MCP API" > api.json
  mcpgate entra-emulator export --config entra.yaml --app 0c11e470-… > app.json
  mcpgate doctor entra --app app.json --api api.json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ec, warnings, err := config.LoadEntra(cfgFile)
			for _, w := range warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", w)
			}
			if err != nil {
				fmt.Fprintln(cmd.ErrOrStderr(), err)
				return exitError{code: 1}
			}
			apps, err := entraemulator.ExportApplications(ec)
			if err != nil {
				return err
			}
			var v any = apps
			if appRef != "" {
				v = nil
				for i, a := range apps {
					if strings.EqualFold(a.AppID, appRef) || a.DisplayName == appRef || strings.EqualFold(a.ID, appRef) {
						v = apps[i]
					}
				}
				if v == nil {
					return fmt.Errorf("no app %q in %s (give its clientId or name)", appRef, cfgFile)
				}
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			enc.SetEscapeHTML(false)
			return enc.Encode(v)
		},
	}
	cmd.Flags().StringVar(&cfgFile, "config", "entra.yaml", "emulator file: tenants, apps and users (the entra section of mcpgate.yaml at the top level)")
	cmd.Flags().StringVar(&appRef, "app", "", "only this app (client id, object id or display name)")
	return cmd
}

// selfSignedCert makes a certificate for 127.0.0.1, ::1 and localhost that is its own CA,
// so that it can be trusted directly (curl --cacert, NODE_EXTRA_CA_CERTS).
func selfSignedCert() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "mcpgate entra-emulator"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(1, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, fmt.Errorf("creating TLS certificate: %w", err)
	}
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pemCert, nil
}
