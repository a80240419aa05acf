// Package aadsts explains Microsoft Entra ID error codes (the number after "AADSTS" in an
// error_description): what happened and what to change, for an SSO, On-Behalf-Of or
// consent setup. One table serves mcpgate doctor, the federation error page and the
// upstream credential errors.
package aadsts
