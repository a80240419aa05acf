// Package doctor diagnoses single sign-on setups the way a senior identity engineer would:
// it runs the checks a client, a gateway and an identity provider each make, in the order they
// make them, and reports each as a Step with a one-line finding and a one-line fix.
//
// CheckURL is the client's view of an MCP server (reachability, the 401 challenge, Protected
// Resource Metadata, authorization server metadata, PKCE, registration, Entra's resource
// handling). CheckToken explains whether the gateway would accept an access token, against a
// Target built from a server's metadata (TargetFromURL) or from a configuration file
// (TargetFromConfig). CheckEntraApps checks Entra ID app registrations offline (Graph or
// az ad app show JSON). AADSTS explains Microsoft Entra ID error codes. docs/doctor.md lists
// every check with the symptom a user sees.
package doctor
