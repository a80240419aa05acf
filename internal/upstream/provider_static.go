package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// StaticConfig sends a fixed header value (an API key of the upstream). Value is the
// literal value; ValueFile reads it from a file (re-read on every call so that a rotated
// secret file is picked up). Prefix is prepended (for example "Bearer ").
type StaticConfig struct {
	Header    string
	Value     string
	ValueFile string
	Prefix    string
}

// NewStatic returns a static-header provider.
func NewStatic(c StaticConfig) (Provider, error) {
	if c.Header == "" {
		c.Header = "Authorization"
	}
	if (c.Value == "") == (c.ValueFile == "") {
		return nil, errors.New("static: give exactly one of value or valueFile")
	}
	if c.ValueFile != "" {
		if _, err := os.Stat(c.ValueFile); err != nil {
			return nil, fmt.Errorf("static: %w", err)
		}
	}
	return ProviderFunc(func(ctx context.Context, req Request) (Credential, error) {
		v := c.Value
		if c.ValueFile != "" {
			b, err := os.ReadFile(c.ValueFile)
			if err != nil {
				return Credential{}, &Failure{Mode: ModeStatic, Reason: ReasonConfig, Description: fmt.Sprintf("reading valueFile %s: %v", c.ValueFile, err)}
			}
			v = strings.TrimSpace(string(b))
		}
		h := http.Header{}
		h.Set(c.Header, c.Prefix+v)
		return Credential{Header: h, Mode: ModeStatic}, nil
	}), nil
}

// NewPassthrough forwards the caller's own token. The MCP specification forbids token
// passthrough (it defeats audience checks at the upstream); config validation warns, and
// the gateway should log it per route at startup.
func NewPassthrough() Provider {
	return ProviderFunc(func(ctx context.Context, req Request) (Credential, error) {
		if req.Token == "" {
			return Credential{}, &Failure{Mode: ModePassthrough, Reason: ReasonNoCallerToken, Permanent: true, Description: "passthrough needs the caller's token, and the request carried none"}
		}
		return Credential{Header: bearer(req.Token), Mode: ModePassthrough}, nil
	})
}
