package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcpgate/mcpgate/internal/app"
	"github.com/mcpgate/mcpgate/internal/authserver"
	"github.com/mcpgate/mcpgate/internal/config"
	"github.com/mcpgate/mcpgate/internal/store"
)

func init() { register(newUsersCmd) }

// newUsersCmd manages the local users of the authorization server in the configured store.
func newUsersCmd() *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "users",
		Short: "Manage the authorization server's local users (in the configured store)",
		Long: "Manage the local users of mcpgate's authorization server. Users are kept in the store\n" +
			"configured in the config file (store: sqlite/postgres); passwords are hashed with argon2id.\n" +
			"Users can also be listed in the config file (authServer.users) with a hash from `mcpgate users hash`.",
	}
	cmd.PersistentFlags().StringVarP(&cfgPath, "config", "c", "mcpgate.yaml", "configuration file (its store section selects the database)")

	withStore := func(cmd *cobra.Command, f func(ctx context.Context, st store.Store) error) error {
		cfg, _, err := config.Load(cfgPath)
		if err != nil {
			return err
		}
		if cfg.Store.Memory != nil {
			return errors.New("the configured store is memory: users would be lost when this command exits; configure store.sqlite or store.postgres")
		}
		ctx := cmd.Context()
		st, err := store.Open(ctx, app.StoreBackend(cfg.Store), nil)
		if err != nil {
			return err
		}
		defer st.Close()
		return f(ctx, st)
	}

	var email, name string
	var groups []string
	var passwordStdin bool
	add := &cobra.Command{
		Use:   "add USERNAME",
		Short: "Add a user (asks for the password, or reads it from stdin with --password-stdin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			username := strings.TrimSpace(args[0])
			if username == "" || strings.ContainsAny(username, " \t\r\n") {
				return fmt.Errorf("username %q must be non-empty and contain no spaces", args[0])
			}
			pw, err := readPassword(cmd, passwordStdin)
			if err != nil {
				return err
			}
			hash, err := authserver.HashPassword(pw)
			if err != nil {
				return err
			}
			return withStore(cmd, func(ctx context.Context, st store.Store) error {
				id := make([]byte, 8)
				rand.Read(id)
				now := time.Now()
				err := st.CreateUser(ctx, store.User{ID: "u_" + hex.EncodeToString(id), Username: username, Email: email, Name: name,
					Groups: groups, PasswordHash: hash, CreatedAt: now, UpdatedAt: now})
				if errors.Is(err, store.ErrAlreadyExists) {
					return fmt.Errorf("user %q already exists; use `mcpgate users set-password %s` to change the password", username, username)
				}
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s added\n", username)
				return nil
			})
		},
	}
	add.Flags().StringVar(&email, "email", "", "email address (email claim)")
	add.Flags().StringVar(&name, "name", "", "display name (name claim)")
	add.Flags().StringSliceVar(&groups, "group", nil, "group (groups claim); repeat or separate with commas")
	add.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from the first line of stdin")

	list := &cobra.Command{
		Use:   "list",
		Short: "List users",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withStore(cmd, func(ctx context.Context, st store.Store) error {
				users, err := st.ListUsers(ctx)
				if err != nil {
					return err
				}
				tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
				fmt.Fprintln(tw, "USERNAME\tNAME\tEMAIL\tGROUPS\tSUBJECT")
				for _, u := range users {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", u.Username, u.Name, u.Email, strings.Join(u.Groups, ","), u.ID)
				}
				return tw.Flush()
			})
		},
	}

	var setStdin bool
	setPassword := &cobra.Command{
		Use:   "set-password USERNAME",
		Short: "Change a user's password",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := readPassword(cmd, setStdin)
			if err != nil {
				return err
			}
			hash, err := authserver.HashPassword(pw)
			if err != nil {
				return err
			}
			return withStore(cmd, func(ctx context.Context, st store.Store) error {
				u, err := st.GetUserByUsername(ctx, args[0])
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no user %q; add it with `mcpgate users add %s`", args[0], args[0])
				}
				if err != nil {
					return err
				}
				if _, err := st.UpdateUser(ctx, u.ID, func(u *store.User) error { u.PasswordHash, u.UpdatedAt = hash, time.Now(); return nil }); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "password of %s changed\n", args[0])
				return nil
			})
		},
	}
	setPassword.Flags().BoolVar(&setStdin, "password-stdin", false, "read the password from the first line of stdin")

	del := &cobra.Command{
		Use:   "delete USERNAME",
		Short: "Delete a user (existing refresh tokens stop working: the user no longer exists)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withStore(cmd, func(ctx context.Context, st store.Store) error {
				u, err := st.GetUserByUsername(ctx, args[0])
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("no user %q", args[0])
				}
				if err != nil {
					return err
				}
				if err := st.DeleteUser(ctx, u.ID); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "user %s deleted\n", args[0])
				return nil
			})
		},
	}

	var hashStdin bool
	hash := &cobra.Command{
		Use:   "hash",
		Short: "Print an argon2id hash of a password, for authServer.users[].passwordHash",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := readPassword(cmd, hashStdin)
			if err != nil {
				return err
			}
			h, err := authserver.HashPassword(pw)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), h)
			return nil
		},
	}
	hash.Flags().BoolVar(&hashStdin, "password-stdin", false, "read the password from the first line of stdin")

	cmd.AddCommand(add, list, setPassword, del, hash)
	return cmd
}

// readPassword reads a password from stdin (--password-stdin) or prompts twice on the
// terminal without echo.
func readPassword(cmd *cobra.Command, fromStdin bool) (string, error) {
	in := cmd.InOrStdin()
	if fromStdin {
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", err
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("the password read from stdin is empty")
		}
		return pw, nil
	}
	f, ok := in.(*os.File)
	if !ok {
		return "", errors.New("no terminal to ask for the password: use --password-stdin")
	}
	if st, err := f.Stat(); err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return "", errors.New("stdin is not a terminal: use --password-stdin")
	}
	r := bufio.NewReader(f)
	ask := func(prompt string) (string, error) {
		fmt.Fprint(cmd.ErrOrStderr(), prompt)
		echoOff := exec.Command("stty", "-echo")
		echoOff.Stdin = f
		if err := echoOff.Run(); err != nil {
			return "", fmt.Errorf("cannot turn off terminal echo (%v): use --password-stdin", err)
		}
		defer func() {
			on := exec.Command("stty", "echo")
			on.Stdin = f
			on.Run()
			fmt.Fprintln(cmd.ErrOrStderr())
		}()
		line, err := r.ReadString('\n')
		return strings.TrimRight(line, "\r\n"), err
	}
	p1, err := ask("Password: ")
	if err != nil {
		return "", err
	}
	if len(p1) < 8 {
		return "", errors.New("the password must have at least 8 characters")
	}
	p2, err := ask("Repeat password: ")
	if err != nil {
		return "", err
	}
	if p1 != p2 {
		return "", errors.New("the passwords do not match")
	}
	return p1, nil
}
