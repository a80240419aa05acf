package upstream

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestRouteCredentialsReadsCallerToken(t *testing.T) {
	ts := newTokenServer(t, okToken("downstream"))
	p, _ := NewOBO(OBOConfig{TokenURL: ts.URL, Auth: ClientSecretPost{ID: "a", Secret: "b"}, Scopes: []string{"api://x/.default"}})
	rc := RouteCredentials{Provider: p, Route: "files"}
	r := httptest.NewRequest(http.MethodPost, "/files/mcp", nil)
	r.Header.Set("Authorization", "bearer "+callerToken)
	h, err := rc.UpstreamHeaders(context.Background(), callerReq().Principal, r)
	if err != nil || h.Get("Authorization") != "Bearer downstream" || ts.last(t).Get("assertion") != callerToken {
		t.Fatalf("headers %v err %v", h, err)
	}
}
