package authserver

import (
	"encoding/json"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
)

// handleMetadata serves RFC 8414 authorization server metadata; the same document is the
// OpenID Connect discovery document.
func (s *Server) handleMetadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		w.Header().Set("Access-Control-Allow-Methods", "GET")
		w.Header().Set("Access-Control-Allow-Headers", "MCP-Protocol-Version")
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	writeJSONCached(w, s.metadata())
}

func writeJSONCached(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	json.NewEncoder(w).Encode(v)
}

func (s *Server) metadata() map[string]any {
	iss := s.issuer
	m := map[string]any{
		"issuer":                                           iss,
		"authorization_endpoint":                           iss + PathAuthorize,
		"token_endpoint":                                   iss + PathToken,
		"jwks_uri":                                         iss + PathJWKS,
		"userinfo_endpoint":                                iss + PathUserinfo,
		"revocation_endpoint":                              iss + PathRevoke,
		"introspection_endpoint":                           iss + PathIntrospect,
		"end_session_endpoint":                             iss + PathEndSession,
		"device_authorization_endpoint":                    iss + PathDeviceAuthorization,
		"response_types_supported":                         []string{"code"},
		"response_modes_supported":                         []string{"query"},
		"grant_types_supported":                            []string{string(oidc.GrantTypeCode), string(oidc.GrantTypeRefreshToken), string(oidc.GrantTypeClientCredentials), string(oidc.GrantTypeDeviceCode), string(oidc.GrantTypeTokenExchange)},
		"code_challenge_methods_supported":                 []string{"S256"},
		"token_endpoint_auth_methods_supported":            []string{"none", "client_secret_basic", "client_secret_post", AuthMethodPrivateKeyJWT},
		"token_endpoint_auth_signing_alg_values_supported": clientAssertionAlgs,
		"revocation_endpoint_auth_methods_supported":       []string{"none", "client_secret_basic", "client_secret_post", AuthMethodPrivateKeyJWT},
		"introspection_endpoint_auth_methods_supported":    []string{"client_secret_basic", "client_secret_post", AuthMethodPrivateKeyJWT},
		"scopes_supported":                                 s.supportedScopes(),
		"subject_types_supported":                          []string{"public"},
		"id_token_signing_alg_values_supported":            []string{string(s.keys.alg)},
		"claims_supported":                                 []string{"sub", "iss", "aud", "exp", "iat", "jti", "email", "name", "preferred_username", "groups", "scope", "client_id", "auth_time", "amr"},
		"client_id_metadata_document_supported":            !s.opts.CIMD.Disabled,
		"request_parameter_supported":                      false,
		"authorization_response_iss_parameter_supported":   true,
		"service_documentation":                            "https://github.com/mcpgate/mcpgate/blob/main/docs/authserver.md",
	}
	// private_key_jwt at introspection and revocation too (client_assertion_endpoints.go).
	m["revocation_endpoint_auth_signing_alg_values_supported"] = clientAssertionAlgs
	m["introspection_endpoint_auth_signing_alg_values_supported"] = clientAssertionAlgs
	if s.opts.Registration != RegistrationOff {
		m["registration_endpoint"] = iss + PathRegister
	}
	s.idjagMetadata(m)
	return m
}
