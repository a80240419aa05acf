// Package console owns the pages for running mcpgate, served beside the authorization
// server: the admin console at /admin (routes with upstream health, clients, the policy
// simulator, the audit trail, users and sign-ins, signing keys) for members of
// authServer.adminGroups, and "My account" at /account for every signed-in user (the
// applications they allowed, their sign-ins, their connected services).
//
// Pages only read. Every change is a form POST carrying a double-submit token (a
// SameSite=Strict cookie repeated in the form, plus a same-origin check), acts through
// the same code as the protocol endpoints (authserver revocation, upstream disconnect,
// the store), and is recorded in the audit trail (route admin or account). Pages run no
// script, escape everything, bound every parameter, and never show a token or key.
package console
