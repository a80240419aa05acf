package authserver

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/mcpgate/mcpgate/internal/clip"
	"github.com/mcpgate/mcpgate/internal/store"
)

// handleDevice is the verification page of the device authorization grant (RFC 8628 §3.3):
// the user enters the code shown on the device, signs in (unless a session exists) and
// approves or denies.
func (s *Server) handleDevice(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	sess, signedIn := s.getSession(r)
	data := pageData{Title: "Connect a device", SignedIn: signedIn}
	if signedIn {
		if id, err := s.lookupIdentity(ctx, sess.UserID); err == nil {
			data.UserName = id.Username
		} else {
			data.SignedIn, signedIn = false, false
		}
	}
	switch r.Method {
	case http.MethodGet:
		data.UserCode = strings.ToUpper(strings.TrimSpace(r.URL.Query().Get("user_code")))
		data.CSRF = s.csrfToken(w, r, "device")
		if data.UserCode != "" && !s.deviceDetails(r, &data) {
			data.Error = "This code is not valid, has expired or was already used. Check the code shown on your device, or start again on the device."
		}
		s.renderDevice(w, http.StatusOK, data, signedIn)
	case http.MethodPost:
		data.UserCode = strings.ToUpper(strings.TrimSpace(r.PostFormValue("user_code")))
		data.Username = r.PostFormValue("username")
		fail := func(status int, msg string) {
			data.Error = msg
			s.deviceDetails(r, &data)
			data.CSRF = s.csrfToken(w, r, "device")
			s.renderDevice(w, status, data, signedIn)
		}
		if !s.checkCSRF(r, "device") {
			fail(http.StatusForbidden, "The form expired or was opened in another window. Please try again.")
			return
		}
		d, err := s.store.GetDeviceAuthByUserCode(ctx, data.UserCode)
		if errors.Is(err, store.ErrNotFound) {
			fail(http.StatusBadRequest, "This code is not valid. Check the code shown on your device and type it again.")
			return
		}
		if err != nil {
			fail(http.StatusInternalServerError, "Something went wrong. Please try again.")
			return
		}
		if !s.opts.Now().Before(d.ExpiresAt) {
			fail(http.StatusBadRequest, "This code has expired. Start the sign-in on your device again to get a new code.")
			return
		}
		if d.State != store.DevicePending {
			fail(http.StatusBadRequest, "This code was already used. Start the sign-in on your device again to get a new code.")
			return
		}
		if r.PostFormValue("action") == "show" {
			// Step one: the code is valid; show what it asks for before any approval.
			s.deviceDetails(r, &data)
			data.CSRF = s.csrfToken(w, r, "device")
			s.renderDevice(w, http.StatusOK, data, signedIn)
			return
		}
		userID := sess.UserID
		if !signedIn {
			ident, status, msg := s.authenticate(r, strings.TrimSpace(data.Username), r.PostFormValue("password"))
			if msg != "" {
				fail(status, msg)
				return
			}
			userID = ident.UserID
			s.setSession(w, userID, s.opts.Now())
		}
		approve := r.PostFormValue("action") == "approve"
		_, err = s.store.UpdateDeviceAuth(ctx, d.DeviceCodeHash, func(d *store.DeviceAuth) error {
			if d.State != store.DevicePending {
				return errors.New("already decided")
			}
			d.UserID, d.AuthTime = userID, s.opts.Now()
			d.State = store.DeviceDenied
			if approve {
				d.State = store.DeviceApproved
			}
			return nil
		})
		if err != nil {
			fail(http.StatusBadRequest, "This code was already used. Start the sign-in on your device again to get a new code.")
			return
		}
		s.log.InfoContext(ctx, "device authorization decided", "client_id", clip.String(d.ClientID), "sub", userID, "approved", approve)
		if approve {
			s.message(w, http.StatusOK, "Device connected", "Your device is now connected. You can close this window and return to it.", "")
		} else {
			s.message(w, http.StatusOK, "Access denied", "You denied access. The device will not be connected.", "")
		}
	default:
		s.methodNotAllowed(w)
	}
}

// renderDevice renders the device page; a visitor not signed in is offered the identity
// providers (coming back to this page with the code) besides, or instead of, a password.
func (s *Server) renderDevice(w http.ResponseWriter, status int, data pageData, signedIn bool) {
	data.PasswordLogin = s.hasPasswordLogin()
	if !signedIn {
		ret := PathDevice
		if data.UserCode != "" && len(data.UserCode) <= 32 {
			ret += "?" + url.Values{"user_code": {data.UserCode}}.Encode()
		}
		data.Federated = s.signInOptions(ret)
	}
	s.render(w, status, "device.html", data)
}

// deviceDetails fills what the user approves on the device page (the application, who
// runs it, the resources and permissions) from the pending request of data.UserCode;
// false when the code names no pending request.
func (s *Server) deviceDetails(r *http.Request, data *pageData) bool {
	d, err := s.store.GetDeviceAuthByUserCode(r.Context(), data.UserCode)
	if err != nil || !s.opts.Now().Before(d.ExpiresAt) || d.State != store.DevicePending {
		return false
	}
	data.Device = true
	data.ClientID = d.ClientID
	data.ClientName = d.ClientID
	if c, err := s.clients.get(r.Context(), d.ClientID); err == nil {
		if c.Name != "" {
			data.ClientName = c.Name
		}
		data.Operator = s.clientOperator(c)
	}
	data.Resources = d.Audience
	data.Routes = s.resourceViews(r.Context(), d.Audience, "")
	data.Scopes = scopeViews(consentScopes(d.Scopes))
	return true
}
