package client

import (
	"context"
	"fmt"
	"net/url"
	"os/exec"
	"runtime"
)

// showURL prints the authorization URL and opens the system browser on it (never through a
// shell). Failing to open a browser is not an error: the printed URL is enough.
func (c *Client) showURL(_ context.Context, authURL string) error {
	fmt.Fprintf(c.opts.Prompt, "To sign in to %s, open this URL in a browser:\n\n  %s\n\n", c.opts.ServerURL, authURL)
	if c.opts.NoBrowser {
		return nil
	}
	if err := OpenBrowser(authURL); err != nil {
		c.log().Info("could not open a browser; open the printed URL yourself", "err", err)
	}
	return nil
}

// OpenBrowser opens an http(s) URL with the platform's opener (xdg-open, open, or
// rundll32 url.dll) as a direct exec, so the URL is never interpreted by a shell.
func OpenBrowser(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return fmt.Errorf("refusing to open %q: only http(s) URLs are opened", raw)
	}
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", u.String())
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", u.String())
	default:
		cmd = exec.Command("xdg-open", u.String())
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait()
	return nil
}
