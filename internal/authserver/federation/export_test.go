package federation

import "context"

// StoredRefreshToken returns the user's stored provider refresh token (tests revoke it at the
// provider).
func (c *Connector) StoredRefreshToken(ctx context.Context, subject string) (string, error) {
	rec, _, err := c.load(ctx, subject)
	return rec.RefreshToken, err
}
