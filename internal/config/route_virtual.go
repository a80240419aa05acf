package config

import (
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strings"
)

// AggregatedUpstream is one MCP server behind a virtual server (routes[].upstreams): a
// Streamable HTTP endpoint (url) or a local stdio server (command).
type AggregatedUpstream struct {
	// Name identifies the upstream in logs, audit and list metadata (letters, digits,
	// _ and -).
	Name string `yaml:"name" json:"name"`
	// URL of a Streamable HTTP MCP endpoint. Give this or command.
	URL string `yaml:"url,omitempty" json:"url,omitempty"`
	// Command starts a stdio MCP server: the program, run directly (never through a
	// shell), found in PATH unless it contains a /.
	Command string `yaml:"command,omitempty" json:"command,omitempty"`
	// Args are the command's arguments, one list entry each.
	Args []string `yaml:"args,omitempty" json:"args,omitempty"`
	// Dir is the command's working directory. Default: mcpgate's.
	Dir string `yaml:"dir,omitempty" json:"dir,omitempty"`
	// Env sets environment variables of the command (use ${VAR} for secrets). The
	// command gets nothing else of mcpgate's environment but PATH and passEnv.
	Env map[string]string `yaml:"env,omitempty" json:"env,omitempty"`
	// PassEnv names variables of mcpgate's own environment passed to the command.
	PassEnv []string `yaml:"passEnv,omitempty" json:"passEnv,omitempty"`
	// IdentityEnv names environment variables that carry the signed-in user's identity
	// to their own process. Not set: the process learns nothing of the user.
	IdentityEnv *IdentityEnv `yaml:"identityEnv,omitempty" json:"identityEnv,omitempty"`
	// Shared runs one process for all users instead of one per user (the default). Only
	// for a server that keeps nothing of one user from another.
	Shared bool `yaml:"shared,omitempty" json:"shared,omitempty"`
	// MaxProcesses bounds the command's live processes (one per user). Default 32.
	MaxProcesses int `yaml:"maxProcesses,omitempty" json:"maxProcesses,omitempty"`
	// Prefix is put before the upstream's tool and prompt names (github_ makes
	// create_issue github_create_issue). Two upstreams cannot share a prefix.
	Prefix string `yaml:"prefix,omitempty" json:"prefix,omitempty"`
	// Renames maps a real tool or prompt name to the name clients see (the others get
	// prefix).
	Renames map[string]string `yaml:"renames,omitempty" json:"renames,omitempty"`
	// UpstreamAuth says how mcpgate obtains the credential it sends to this upstream
	// (url only), per user: the same modes as a route's upstreamAuth.
	UpstreamAuth *UpstreamAuth `yaml:"upstreamAuth,omitempty" json:"upstreamAuth,omitempty"`
	// ConnectTimeout bounds connecting and the MCP handshake. Default 10s.
	ConnectTimeout Duration `yaml:"connectTimeout,omitempty" json:"connectTimeout,omitempty"`
	// CallTimeout bounds each request to the upstream (a list, a tool call). Default 60s.
	CallTimeout Duration `yaml:"callTimeout,omitempty" json:"callTimeout,omitempty"`
	// MaxLineBytes bounds one message (one line) a command may write on its standard
	// output; a longer one ends the process and fails the call. Default 4 MiB.
	MaxLineBytes int `yaml:"maxLineBytes,omitempty" json:"maxLineBytes,omitempty"`
	// MaxOutputRate bounds how fast the command's output is read, in bytes per second
	// (faster output waits in the pipe). Default 8 MiB/s; -1: no bound.
	MaxOutputRate int `yaml:"maxOutputRate,omitempty" json:"maxOutputRate,omitempty"`
}

// IdentityEnv names environment variables set from the user's identity.
type IdentityEnv struct {
	// Subject names the variable for the user's subject (sub).
	Subject string `yaml:"subject,omitempty" json:"subject,omitempty"`
	// Email names the variable for the email claim.
	Email string `yaml:"email,omitempty" json:"email,omitempty"`
	// Name names the variable for the name claim.
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Groups names the variable for the groups, comma-separated.
	Groups string `yaml:"groups,omitempty" json:"groups,omitempty"`
	// Issuer names the variable for the token's issuer.
	Issuer string `yaml:"issuer,omitempty" json:"issuer,omitempty"`
}

var (
	upstreamNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	envNameRE      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// validateUpstreams checks a virtual server's upstreams, including the names clients
// would see: two upstreams under one prefix, or two renames to one name, are refused
// with both sources named.
func (r *Route) validateUpstreams(path string, p *Problems) {
	if r.Upstream.URL != "" {
		p.Add(path+".upstream", "give upstream or upstreams, not both")
	}
	if r.UpstreamAuth != nil {
		p.Add(path+".upstreamAuth", "a virtual server has no upstreamAuth of its own: set upstreamAuth on each of its upstreams")
	}
	if r.UpstreamsIdleTimeout < 0 {
		p.Add(path+".upstreamsIdleTimeout", "must not be negative")
	}
	names := map[string]int{}
	prefixes := map[string]int{}
	visible := map[string]string{}
	for i := range r.Upstreams {
		u := &r.Upstreams[i]
		up := fmt.Sprintf("%s.upstreams[%d]", path, i)
		src := fmt.Sprintf("upstreams[%d] (%s)", i, u.Name)
		switch {
		case u.Name == "":
			p.Add(up+".name", "is required")
		case !upstreamNameRE.MatchString(u.Name):
			p.Add(up+".name", "%q: use letters, digits, _ and -", u.Name)
		default:
			if j, ok := names[u.Name]; ok {
				p.Add(up+".name", "%q is also the name of upstreams[%d]", u.Name, j)
			}
			names[u.Name] = i
		}
		switch {
		case (u.URL == "") == (u.Command == ""):
			p.Add(up, "give exactly one of url (Streamable HTTP) or command (stdio)")
		case u.URL != "":
			if pu, e := url.Parse(u.URL); e != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				p.Add(up+".url", "%q is not an absolute http(s) URL", u.URL)
			}
			if len(u.Args) > 0 || len(u.Env) > 0 || len(u.PassEnv) > 0 || u.IdentityEnv != nil || u.Shared || u.Dir != "" || u.MaxProcesses != 0 || u.MaxLineBytes != 0 || u.MaxOutputRate != 0 {
				p.Add(up, "args, dir, env, passEnv, identityEnv, shared, maxProcesses, maxLineBytes and maxOutputRate are for a command, not a url")
			}
		default:
			if strings.ContainsAny(u.Command, " \t") && !strings.Contains(u.Command, "/") {
				p.Add(up+".command", "%q: give the program alone and its arguments in args (commands are not run through a shell)", u.Command)
			} else if _, err := exec.LookPath(u.Command); err != nil {
				p.Add(up+".command", "%q cannot be run: %v", u.Command, err)
			}
			if u.UpstreamAuth != nil {
				p.Add(up+".upstreamAuth", "is for a url upstream; a command gets the user's identity only through identityEnv")
			}
			for k := range u.Env {
				if !envNameRE.MatchString(k) {
					p.Add(up+".env", "%q is not an environment variable name", k)
				}
			}
			for _, k := range u.PassEnv {
				if !envNameRE.MatchString(k) {
					p.Add(up+".passEnv", "%q is not an environment variable name", k)
				}
			}
			if u.IdentityEnv != nil && u.Shared {
				p.Add(up+".identityEnv", "a shared process serves every user: it cannot be given one user's identity")
			}
			if u.MaxProcesses < 0 {
				p.Add(up+".maxProcesses", "must not be negative")
			}
			if u.Dir != "" {
				if fi, err := os.Stat(u.Dir); err != nil {
					p.Add(up+".dir", "%q cannot be used as the working directory: %v", u.Dir, err)
				} else if !fi.IsDir() {
					p.Add(up+".dir", "%q is not a directory", u.Dir)
				}
			}
			if u.MaxLineBytes < 0 {
				p.Add(up+".maxLineBytes", "must not be negative")
			}
			if u.MaxOutputRate < -1 {
				p.Add(up+".maxOutputRate", "must be a number of bytes per second, or -1 for no bound")
			}
		}
		if u.ConnectTimeout < 0 {
			p.Add(up+".connectTimeout", "must not be negative")
		}
		if u.CallTimeout < 0 {
			p.Add(up+".callTimeout", "must not be negative")
		}
		if len(u.Renames) == 0 {
			if j, ok := prefixes[u.Prefix]; ok {
				p.Add(up+".prefix", "%q is also the prefix of upstreams[%d] (%s): their tool and prompt names would collide; give each upstream its own prefix", u.Prefix, j, r.Upstreams[j].Name)
			} else {
				for other, j := range prefixes {
					if other != "" && u.Prefix != "" && (strings.HasPrefix(u.Prefix, other) || strings.HasPrefix(other, u.Prefix)) {
						p.Warn(up+".prefix", "%q and the prefix %q of upstreams[%d] (%s) start alike: a tool of one may be shown under the name of a tool of the other (the first upstream keeps it); prefer prefixes that do not start one another", u.Prefix, other, j, r.Upstreams[j].Name)
					}
				}
				prefixes[u.Prefix] = i
			}
		}
		for real, v := range u.Renames {
			if v == "" || strings.ContainsAny(v, " \t\r\n") {
				p.Add(up+".renames", "%q: %q is not a valid name", real, v)
				continue
			}
			if other, ok := visible[v]; ok {
				p.Add(up+".renames", "name %q conflicts: %s and %s's %q would both be shown under it", v, other, src, real)
			}
			visible[v] = fmt.Sprintf("%s's %q", src, real)
		}
	}
}
