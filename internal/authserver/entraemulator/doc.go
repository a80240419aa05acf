// Package entraemulator is an emulator of the Microsoft identity platform (Entra ID,
// login.microsoftonline.com) that behaves like Entra on the wire: the v1 and v2 URL layout,
// discovery documents with the {tenantid} issuer template, JWKS keys with their issuer
// member, v1 and v2 access tokens chosen by the resource app's accessTokenAcceptedVersion,
// the authorization code (+PKCE), refresh, client credentials, device code and
// On-Behalf-Of grants, consent (admin, user, pre-authorized, known client applications),
// Conditional Access claims challenges, and AADSTS error responses.
//
// It exists so that an Entra setup — mcpgate's own, or any application using MSAL — can be
// developed and tested offline and then pointed at the real tenant by changing the
// authority URL. It is not a security boundary: state lives in memory and the defaults
// favour convenience (see docs/entra-emulator.md).
package entraemulator
