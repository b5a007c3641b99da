package cli

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/custmart/custmart/jobs/config"
	"github.com/custmart/custmart/warehouse/clv"
	"github.com/custmart/custmart/warehouse/publish"
	"github.com/custmart/custmart/warehouse/serve"
)

func (a *app) serveCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the current published marts over the PostgreSQL protocol (read-only) until SIGTERM",
		Long: `Serves the current published marts to BI tools and Postgres drivers over the
PostgreSQL wire protocol: SCRAM-SHA-256 logins from serve.users, optional TLS, read-only
by construction. A publish while queries run breaks none of them: a running query
finishes on the version it started on, new queries see the new one. Database name: custmart.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.config()
			if err != nil {
				return err
			}
			opts, err := serveOptions(c)
			if err != nil {
				return err
			}
			layout := a.layout()
			current := &publish.CurrentCache{Layout: layout}
			opts.Current = current.Current
			opts.Functions = clv.RegisterUDFs
			if c.Serve.LookupIndexOn() {
				opts.LookupDir = layout.LookupIndexes()
			}
			opts.Logger = a.logger
			if _, _, err := publish.Current(layout); errors.Is(err, publish.ErrNothingPublished) {
				a.logger.Warn("no marts are published yet; clients get an error until the first publish", "data_dir", a.dataDir)
			}
			srv, err := serve.New(opts)
			if err != nil {
				return err
			}
			a.logger.Info("serving marts", "listen", opts.Listen, "database", "custmart", "tls", opts.TLSCertFile != "", "users", len(opts.Users))
			return srv.ListenAndServe(cmd.Context())
		},
	}
	cmd.AddCommand(a.hashPasswordCommand())
	return cmd
}

// serveOptions maps the configuration to server options, reading passwords
// from the environment variables the users name.
func serveOptions(c *config.Config) (serve.Options, error) {
	s := c.Serve
	if len(s.Users) == 0 {
		return serve.Options{}, usagef("serve: no users are configured; add serve.users with a name and password_env (or scram) to the config")
	}
	opts := serve.Options{
		Listen: s.Listen, TLSCertFile: s.TLSCert, TLSKeyFile: s.TLSKey, RequireTLS: s.RequireTLS,
		MaxConnections: s.MaxConnections, StatementTimeout: s.StatementTimeout.D(), MemoryLimit: s.MemoryLimit, Threads: s.Threads,
	}
	for _, u := range s.Users {
		user := serve.User{Name: u.Name, SCRAMVerifier: u.SCRAM}
		if u.PasswordEnv != "" {
			pw, ok := os.LookupEnv(u.PasswordEnv)
			if !ok || pw == "" {
				return opts, usagef("serve: user %s reads its password from $%s, which is not set", u.Name, u.PasswordEnv)
			}
			user.Password = pw
		}
		opts.Users = append(opts.Users, user)
	}
	return opts, nil
}

func (a *app) hashPasswordCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "hash-password",
		Short: "Read a password on stdin and print its SCRAM-SHA-256 verifier for serve.users[].scram",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			line, err := bufio.NewReader(a.stdin).ReadString('\n')
			password := strings.TrimRight(line, "\r\n")
			if password == "" {
				if err != nil {
					return usagef("hash-password: no password on stdin (%v)", err)
				}
				return usagef("hash-password: the password is empty")
			}
			verifier, err := serve.HashPassword(password)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, verifier)
			return nil
		},
	}
}
