package console

import (
	"context"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
)

// health is what the console says about a route's upstream.
type health struct{ Text, Class string }

// healthTTL is how long probe results are reused: opening the console again does not
// probe every upstream again.
const healthTTL = 15 * time.Second

// healthCache keeps the last probe of every route.
type healthCache struct {
	mu  sync.Mutex
	at  time.Time
	res map[string]health
}

// upstreamHealth probes the upstreams of every route: a TCP connection to the host and
// port of each URL (an MCP endpoint answers GET with a stream, so an HTTP probe would
// hang or need credentials), within two seconds for all of them. stdio upstreams are
// started per session and not probed. Results are reused for healthTTL.
func (con *Console) upstreamHealth(ctx context.Context) map[string]health {
	con.health.mu.Lock()
	defer con.health.mu.Unlock()
	if con.health.res != nil && time.Since(con.health.at) < healthTTL {
		return con.health.res
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	type probe struct {
		route, name, url string
	}
	var probes []probe
	stdio := map[string]int{}
	for _, rt := range con.cfg.Routes {
		if rt.Upstream.URL != "" {
			probes = append(probes, probe{rt.Name, "", rt.Upstream.URL})
		}
		for _, u := range rt.Upstreams {
			if u.URL != "" {
				probes = append(probes, probe{rt.Name, u.Name, u.URL})
			} else {
				stdio[rt.Name]++
			}
		}
	}
	down := make([]string, len(probes))
	var wg sync.WaitGroup
	for i, p := range probes {
		wg.Go(func() { down[i] = dialCheck(ctx, p.url) })
	}
	wg.Wait()
	res := map[string]health{}
	for _, rt := range con.cfg.Routes {
		var bad []string
		n := 0
		for i, p := range probes {
			if p.route != rt.Name {
				continue
			}
			n++
			if down[i] != "" {
				bad = append(bad, strings.TrimSpace(p.name+" "+down[i]))
			}
		}
		switch {
		case n == 0 && stdio[rt.Name] > 0:
			res[rt.Name] = health{Text: "local command (started per session)", Class: "muted"}
		case len(bad) > 0:
			res[rt.Name] = health{Text: "unreachable: " + strings.Join(bad, "; "), Class: "broken"}
		case n > 0:
			res[rt.Name] = health{Text: "reachable", Class: "ok"}
		}
	}
	con.health.res, con.health.at = res, time.Now()
	return res
}

// dialCheck returns "" when a TCP connection to u's host opens, else why not.
func dialCheck(ctx context.Context, u string) string {
	pu, err := url.Parse(u)
	if err != nil || pu.Host == "" {
		return "(not a URL)"
	}
	host := pu.Host
	if pu.Port() == "" {
		port := "80"
		if pu.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(pu.Hostname(), port)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		if ctx.Err() != nil {
			return "(no answer within 2s)"
		}
		return "(connection refused or no route)"
	}
	c.Close()
	return ""
}
