package entraemulator

import (
	"slices"
	"strings"
)

var oidcScopes = []string{"openid", "profile", "email", "offline_access"}

// scopeRequest is a parsed v2 scope parameter: OpenID Connect scopes plus the permissions
// of at most one resource.
type scopeRequest struct {
	oidc   []string
	res    *app
	values []string // scope values on res (without the resource prefix); ".default" kept
	dflt   bool
	raw    string
	asSent map[string]string // value → the scope string as the client sent it
}

func (s *scopeRequest) has(oidc string) bool { return slices.Contains(s.oidc, oidc) }

// qualified renders granted scope values for the token response's scope: in the form the
// client sent them (Graph scopes asked bare come back bare), other resources' expanded
// scopes fully qualified, Graph's bare, and a requested /.default echoed as sent. MSAL
// compares the answer with what it asked for and fails on any "declined" scope.
func (s *scopeRequest) qualified(values []string) string {
	var out []string
	for _, v := range values {
		switch sent, ok := s.asSent[v]; {
		case ok:
			out = append(out, sent)
		case s.res.clientID == GraphAppID:
			out = append(out, v)
		default:
			out = append(out, s.res.resourceID()+"/"+v)
		}
	}
	if sent, ok := s.asSent[".default"]; ok && s.dflt {
		out = append(out, sent)
	}
	return strings.Join(out, " ")
}

// parseScopes resolves a v2 scope parameter. Bare names go to Microsoft Graph. atAuthorize
// selects the authorize endpoint's error for an unknown scope (650053) over the token
// endpoint's (70011). resource is the (v2-unsupported) resource parameter, checked for
// AADSTS9010010.
func (d *directory) parseScopes(raw, resource string, t *tenant, atAuthorize bool) (*scopeRequest, *aadError) {
	sr := &scopeRequest{raw: raw, asSent: map[string]string{}}
	var items []string
	for _, s := range strings.Fields(raw) {
		if slices.Contains(oidcScopes, strings.ToLower(s)) {
			sr.oidc = append(sr.oidc, strings.ToLower(s))
			continue
		}
		items = append(items, s)
	}
	for _, s := range items {
		res, value := d.resolveScope(s)
		if res == nil {
			return nil, newErr(400, "invalid_resource", 500011,
				"The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.",
				resourcePart(s), tenantName(t))
		}
		if sr.res != nil && sr.res != res {
			return nil, invalidScope(28000, "Provided value for the input parameter scope is not valid because it contains more than one resource. Scope %s is not valid.", raw)
		}
		sr.res = res
		if value == ".default" {
			sr.dflt = true
		} else if _, ok := res.scopes[value]; !ok {
			if atAuthorize {
				return nil, invalidScope(650053, "The application asked for scope '%s' that doesn't exist on the resource '%s'. Contact the app vendor.", value, res.clientID)
			}
			return nil, invalidScope(70011, "The provided value for the input parameter 'scope' is not valid. The scope %s is not valid.", s)
		}
		if !slices.Contains(sr.values, value) {
			sr.values = append(sr.values, value)
			sr.asSent[value] = s
		}
	}
	if sr.dflt && len(sr.values) > 1 {
		return nil, invalidScope(70011, "The provided value for the input parameter 'scope' is not valid. The scope %s is not valid. The .default scope can't be combined with resource-specific scopes.", raw)
	}
	if resource != "" && (sr.res == nil || !sr.res.isIdentifier(resource)) {
		return nil, invalidRequest(9010010, "The resource parameter provided in the request doesn't match with the requested scopes.")
	}
	return sr, nil
}

// resolveScope finds the resource of a scope string: the longest App ID URI or client id
// prefix, or Microsoft Graph for a bare name.
func (d *directory) resolveScope(s string) (*app, string) {
	ls := strings.ToLower(s)
	if !strings.Contains(s, "/") {
		return d.appByID[GraphAppID], s
	}
	var best *app
	bestLen := 0
	for _, a := range d.apps {
		ids := append([]string{a.clientID}, a.uris...)
		for _, id := range ids {
			id = strings.ToLower(strings.TrimRight(id, "/"))
			if strings.HasPrefix(ls, id+"/") && len(id) > bestLen {
				best, bestLen = a, len(id)
			}
		}
	}
	if best == nil {
		return nil, ""
	}
	return best, s[bestLen+1:]
}

func resourcePart(s string) string {
	if i := strings.LastIndex(s, "/"); i > 0 {
		return s[:i]
	}
	return s
}

func tenantName(t *tenant) string {
	if t == nil {
		return "common"
	}
	return t.id
}

// defaultScopes expands /.default for a delegated request: every scope of res that the
// client has configured in requiredResourceAccess, plus those pre-authorized or consented.
func (d *directory) defaultScopes(u *user, client, res *app) []string {
	var out []string
	if client == res {
		return nil
	}
	if r := client.required[res.clientID]; r != nil {
		out = append(out, r.Scopes...)
	}
	for _, v := range res.preAuth[client.clientID] {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	if u != nil {
		d.mu.Lock()
		for full := range d.consents[consentKey(u.tenant.id, u.oid, client.clientID)] {
			if r, v := d.resolveScopeLocked(full); r == res && v != ".default" && !slices.Contains(out, v) {
				if _, ok := res.scopes[v]; ok {
					out = append(out, v)
				}
			}
		}
		d.mu.Unlock()
	}
	slices.Sort(out)
	return out
}

// resolveScopeLocked is resolveScope matching case-insensitively on a lowered value
// (consents are stored lowered), returning the scope's canonical spelling.
func (d *directory) resolveScopeLocked(full string) (*app, string) {
	res, v := d.resolveScope(full)
	if res == nil {
		return nil, ""
	}
	for name := range res.scopes {
		if strings.EqualFold(name, v) {
			return res, name
		}
	}
	return res, v
}
