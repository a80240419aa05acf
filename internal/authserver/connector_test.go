package authserver

import (
	"context"
	"errors"
	"testing"

	"github.com/mcpgate/mcpgate/internal/store"
)

func TestLocalConnector(t *testing.T) {
	ctx := context.Background()
	st := store.NewMemory()
	ch, _ := HashPassword("config-pw")
	sh, _ := HashPassword("store-pw")
	st.CreateUser(ctx, store.User{ID: "u1", Username: "dave", Email: "dave@example.com", PasswordHash: sh})
	st.CreateUser(ctx, store.User{ID: "u2", Username: "eve", PasswordHash: sh, Disabled: true})
	st.CreateUser(ctx, store.User{ID: "u3", Username: "carol", PasswordHash: sh}) // shadowed by config
	c := NewLocalConnector(st, []ConfigUser{{Username: "Carol", PasswordHash: ch, Groups: []string{"ops"}}})
	tests := []struct {
		user, pw string
		ok       bool
		sub      string
	}{
		{"carol", "config-pw", true, "config:carol"},
		{"CAROL", "config-pw", true, "config:carol"},
		{"carol", "store-pw", false, ""},
		{"dave", "store-pw", true, "u1"},
		{"dave", "wrong", false, ""},
		{"eve", "store-pw", false, ""}, // disabled
		{"nobody", "x", false, ""},
	}
	for _, tc := range tests {
		id, ok, err := c.Login(ctx, tc.user, tc.pw)
		if err != nil || ok != tc.ok || (ok && id.UserID != tc.sub) {
			t.Errorf("Login(%s, %s) = %+v %v %v", tc.user, tc.pw, id, ok, err)
		}
	}
	if id, err := c.Lookup(ctx, "config:carol"); err != nil || id.Groups[0] != "ops" {
		t.Errorf("Lookup config user: %+v %v", id, err)
	}
	if id, err := c.Lookup(ctx, "u1"); err != nil || id.Email != "dave@example.com" {
		t.Errorf("Lookup store user: %+v %v", id, err)
	}
	for _, sub := range []string{"u2", "missing", "config:nobody"} {
		if _, err := c.Lookup(ctx, sub); !errors.Is(err, ErrUnknownUser) {
			t.Errorf("Lookup(%s) = %v", sub, err)
		}
	}
}
