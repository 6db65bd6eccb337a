//go:build !agentonly

package main

import (
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/config"
	"github.com/pulseops/pulse/internal/issuer"
	"github.com/pulseops/pulse/internal/security"
)

// issuerCommands are the operator's side of bus identities: create the
// issuer once, issue and revoke credentials, and print the broker's trust.
func issuerCommands() []*cobra.Command {
	return []*cobra.Command{newKeysIssuerCmd(), newKeysIssueCmd(), newKeysRevokeCmd(), newKeysPushCmd(), newKeysListCmd(), newKeysServerConfigCmd()}
}

func defaultIssuerDir() string {
	if d := security.UserKeyDir(); d != "" {
		return filepath.Join(d, "issuer")
	}
	return ""
}

func addIssuerFlag(c *cobra.Command, dir *string) {
	c.Flags().StringVar(dir, "issuer", defaultIssuerDir(), "issuer directory (private keys: keep it on the operator's machine only)")
}

func openIssuer(c *cobra.Command, dir string) (*issuer.Issuer, error) {
	if err := config.Resolve(c.Flags(), "PULSE", nil); err != nil {
		return nil, usageError{err}
	}
	if dir == "" {
		return nil, usage("--issuer: no config directory found; pass --issuer")
	}
	is, err := issuer.Open(dir)
	if err != nil {
		return nil, usageError{err}
	}
	return is, nil
}

func newKeysIssuerCmd() *cobra.Command {
	var (
		dir, collective string
		asJSON          bool
	)
	cmd := &cobra.Command{
		Use:   "issuer",
		Short: "Create the issuer of bus credentials once (operator, accounts, a signing key per role), or show it",
		Long: `Create the issuer of bus credentials, or show the one in --issuer.

The issuer is NATS's own decentralised authentication: an operator, a system
account, and an account for the collective with one scoped signing key per
role (node, user, collector). Each key carries the permission template every
identity of its role gets, so one key issues every node and adding a node
needs no broker change. The directory holds private keys: keep it on the
operator's machine, never on a node or a broker.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := config.Resolve(c.Flags(), "PULSE", nil); err != nil {
				return usageError{err}
			}
			if dir == "" {
				return usage("--issuer: no config directory found; pass --issuer")
			}
			created := false
			var is *issuer.Issuer
			var err error
			if issuer.Exists(dir) {
				if c.Flags().Changed("collective") {
					return usage("%s already holds an issuer: --collective only applies when creating one", dir)
				}
				is, err = issuer.Open(dir)
			} else {
				is, err = issuer.Create(dir, collective)
				created = true
			}
			if err != nil {
				return usageError{err}
			}
			trusted := is.TrustedIssuers()
			if asJSON {
				return printJSON(c.OutOrStdout(), map[string]any{
					"dir": dir, "collective": is.Collective, "created": created, "account": is.AccountKey(),
					"signing_keys": map[string]string{"node": is.RoleKey(issuer.RoleNode), "user": trusted[issuer.RoleUser], "collector": trusted[issuer.RoleCollector]},
				})
			}
			w := c.OutOrStdout()
			if created {
				fmt.Fprintf(w, "Created the issuer of collective %q in %s (private keys: keep this directory on this machine only).\n\n", is.Collective, dir)
			} else {
				fmt.Fprintf(w, "Issuer of collective %q in %s\n\n", is.Collective, dir)
			}
			fmt.Fprintf(w, "account:               %s\nnode signing key:      %s\nuser signing key:      %s\ncollector signing key: %s\n\n",
				is.AccountKey(), is.RoleKey(issuer.RoleNode), trusted[issuer.RoleUser], trusted[issuer.RoleCollector])
			fmt.Fprintf(w, "Agents believe requests from the credentials these keys issue; put this in every agent's config:\n\n%s\n", agentSecuritySnippet(is))
			fmt.Fprintf(w, "Next:\n  pulse keys server-config --issuer %s > auth.conf   # brokers: pulse broker --auth auth.conf, or include it in nats-server.conf\n", dir)
			fmt.Fprintf(w, "  pulse keys issue node web-01 --issuer %s            # one .creds file per node\n", dir)
			fmt.Fprintf(w, "  pulse keys issue user alice --groups ops --issuer %s\n", dir)
			fmt.Fprintf(w, "  pulse keys issue collector collector --issuer %s\n", dir)
			return nil
		},
	}
	addIssuerFlag(cmd, &dir)
	cmd.Flags().StringVar(&collective, "collective", "pulse", "collective the issuer's account serves (when creating)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print machine-readable JSON")
	return cmd
}

// agentSecuritySnippet is the security block every agent of the issuer's
// collective needs.
func agentSecuritySnippet(is *issuer.Issuer) string {
	t := is.TrustedIssuers()
	return fmt.Sprintf("security:\n  issuers:\n    users: [%s]\n    collectors: [%s]\n", t[issuer.RoleUser], t[issuer.RoleCollector])
}

func newKeysIssueCmd() *cobra.Command {
	var (
		dir, out string
		groups   []string
		expires  time.Duration
		force    bool
		asJSON   bool
	)
	cmd := &cobra.Command{
		Use:   "issue ROLE NAME",
		Short: "Issue bus credentials (a .creds file, mode 0600) for a node, a user, the collector or an admin",
		Long: `Issue bus credentials for NAME in ROLE (node, user, collector or admin).

The .creds file is all a process needs to join: a node's agent, a person's
CLI or the collector logs in with it (nats.creds_file, or --creds), and the
broker gives it the permissions of its role on the subjects that carry its
own name. A user's groups (--groups ops,dev) are what agents' policies call
group:ops; a new user needs no change on any node.`,
		Example: `  pulse keys issue node web-01
  pulse keys issue user alice --groups ops
  pulse keys issue collector collector --groups automation`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			role, err := issuer.ParseRole(args[0])
			if err != nil {
				return usageError{err}
			}
			name := args[1]
			if err := issuer.ValidName(name); err != nil {
				return usageError{err}
			}
			is, err := openIssuer(c, dir)
			if err != nil {
				return err
			}
			if role == issuer.RoleCollector && !c.Flags().Changed("groups") {
				groups = []string{"automation"}
			}
			// One name, one role: a policy naming "collector" must never
			// match a user who happens to share the name.
			others, err := is.Issued("", name)
			if err != nil {
				return err
			}
			for _, r := range others {
				if r.Role != role {
					return usage("%q was issued as %s already: one name speaks for one role; pick another name", name, r.Role)
				}
			}
			creds, err := is.Issue(role, name, issuer.IssueOptions{Groups: groups, Expires: expires})
			if err != nil {
				return usageError{err}
			}
			if out == "" {
				out = name + ".creds"
			}
			if err := issuer.WriteCreds(out, creds, force); err != nil {
				return usageError{err}
			}
			if asJSON {
				return printJSON(c.OutOrStdout(), map[string]any{"role": role, "name": name, "public_key": creds.PublicKey, "file": out, "groups": groups})
			}
			w := c.OutOrStdout()
			fmt.Fprintf(w, "Issued %s credentials for %s: %s (mode 0600, holds a secret seed)\npublic key: %s\n", role, name, out, creds.PublicKey)
			if len(groups) > 0 {
				fmt.Fprintf(w, "groups:     %s\n", strings.Join(groups, ", "))
			}
			if expires > 0 {
				fmt.Fprintf(w, "expires:    %s\n", time.Now().Add(expires).UTC().Format(time.RFC3339))
			}
			switch role {
			case issuer.RoleNode:
				fmt.Fprintf(w, "\nOn %s, put the file at /etc/pulse/pulse.creds and in the agent's config:\n\nnats:\n  urls: [nats://BROKER:4222]\n  creds_file: /etc/pulse/pulse.creds\n%s", name, agentSecuritySnippet(is))
			case issuer.RoleUser:
				fmt.Fprintf(w, "\nGive it to %s, who puts it at ~/.config/pulse/id.creds (the CLI finds it there) or passes --creds.\n", name)
			case issuer.RoleCollector:
				fmt.Fprintf(w, "\nIn the collector's config:\n\nnats:\n  urls: [nats://BROKER:4222]\n  creds_file: %s\n", out)
			}
			return nil
		},
	}
	addIssuerFlag(cmd, &dir)
	f := cmd.Flags()
	f.StringVarP(&out, "out", "o", "", "where to write the .creds file (default NAME.creds)")
	f.StringSliceVar(&groups, "groups", nil, "policy groups of the identity, comma separated (default for a collector: automation)")
	f.DurationVar(&expires, "expires", 0, "make the credentials invalid after this long, e.g. 720h (default: never; revoke them instead)")
	f.BoolVar(&force, "force", false, "replace an existing .creds file")
	f.BoolVar(&asJSON, "json", false, "print machine-readable JSON")
	return cmd
}

func newKeysRevokeCmd() *cobra.Command {
	var (
		dir, roleName string
		push          bool
		pushWait      time.Duration
		natsURL       string
		bc            bus.Config
	)
	cmd := &cobra.Command{
		Use:   "revoke NAME",
		Short: "Revoke every credential issued to NAME, and push the revocation to a running cluster",
		Long: `Revoke every credential issued to NAME (in --role, or in any role) by adding
its keys to the account's revocation list.

With --push the new account goes to the running brokers at --nats at once,
logged in as the issuer's system user: every server stores it and closes the
revoked connections, and no other login may publish under NAME. Without
--push, run it later, or give the brokers a new pulse keys server-config.`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var role issuer.Role
			if roleName != "" {
				r, err := issuer.ParseRole(roleName)
				if err != nil {
					return usageError{err}
				}
				role = r
			}
			is, err := openIssuer(c, dir)
			if err != nil {
				return err
			}
			recs, err := is.Revoke(role, args[0])
			if err != nil {
				return usageError{err}
			}
			w := c.OutOrStdout()
			for _, r := range recs {
				fmt.Fprintf(w, "revoked %s %s (key %s, issued %s)\n", r.Role, r.Name, r.PublicKey, r.Issued.Format(time.RFC3339))
			}
			if !push {
				fmt.Fprintf(w, "\nThe account in %s has the revocation; the running brokers take it with:\n  pulse keys push --issuer %s --nats URL\n", dir, dir)
				return nil
			}
			return pushAccount(w, is, natsURL, bc, pushWait)
		},
	}
	addIssuerFlag(cmd, &dir)
	cmd.Flags().StringVar(&roleName, "role", "", "revoke only the credentials of this role")
	cmd.Flags().BoolVar(&push, "push", false, "push the updated account to the running brokers at --nats")
	addPushFlags(cmd, &natsURL, &bc, &pushWait)
	return cmd
}

func addPushFlags(cmd *cobra.Command, natsURL *string, bc *bus.Config, wait *time.Duration) {
	f := cmd.Flags()
	f.DurationVar(wait, "push-wait", 2*time.Second, "how long to collect the brokers' answers")
	f.StringVar(natsURL, "nats", bus.DefaultURL, "NATS server URL(s) to push to, comma separated")
	f.StringVar(&bc.CAFile, "tls-ca", "", "CA file that signs the NATS server certificate (turns on TLS)")
	f.StringVar(&bc.CertFile, "tls-cert", "", "client certificate for NATS")
	f.StringVar(&bc.KeyFile, "tls-key", "", "client certificate key for NATS")
}

func newKeysPushCmd() *cobra.Command {
	var (
		dir, natsURL string
		wait         time.Duration
		bc           bus.Config
	)
	cmd := &cobra.Command{
		Use:   "push",
		Short: "Push the issuer's account (its revocations) to the running brokers",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			is, err := openIssuer(c, dir)
			if err != nil {
				return err
			}
			return pushAccount(c.OutOrStdout(), is, natsURL, bc, wait)
		},
	}
	addIssuerFlag(cmd, &dir)
	addPushFlags(cmd, &natsURL, &bc, &wait)
	return cmd
}

// pushAccount gives the issuer's account JWT to the brokers at urls, as the
// system account's user.
func pushAccount(w io.Writer, is *issuer.Issuer, urls string, bc bus.Config, wait time.Duration) error {
	bc.URLs, bc.Name, bc.CredsFile = strings.Split(urls, ","), "pulse keys revoke", is.SystemCreds()
	nc, err := bus.Dial(bc)
	if err != nil {
		return fmt.Errorf("push the revocation: %w", err)
	}
	defer nc.Close()
	res, err := is.Push(nc, wait)
	if err != nil {
		return fmt.Errorf("push the revocation to %s: %w", urls, err)
	}
	failed := 0
	for _, r := range res {
		state := "took the account"
		if !r.OK {
			state, failed = "refused it", failed+1
		}
		fmt.Fprintf(w, "server %s %s: %s\n", r.Server, state, r.Message)
	}
	if failed > 0 {
		return errors.New("some servers refused the account update")
	}
	return nil
}

func newKeysListCmd() *cobra.Command {
	var (
		dir, roleName string
		asJSON        bool
	)
	cmd := &cobra.Command{
		Use:   "list [NAME]",
		Short: "List the credentials the issuer issued, and which are revoked",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			var role issuer.Role
			if roleName != "" {
				r, err := issuer.ParseRole(roleName)
				if err != nil {
					return usageError{err}
				}
				role = r
			}
			is, err := openIssuer(c, dir)
			if err != nil {
				return err
			}
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			recs, err := is.Issued(role, name)
			if err != nil {
				return err
			}
			if asJSON {
				if recs == nil {
					recs = []issuer.Record{}
				}
				return printJSON(c.OutOrStdout(), recs)
			}
			w := c.OutOrStdout()
			fmt.Fprintf(w, "%-10s %-24s %-10s %-20s %s\n", "ROLE", "NAME", "STATE", "ISSUED", "KEY")
			for _, r := range recs {
				state := "valid"
				switch {
				case r.Revoked:
					state = "revoked"
				case !r.Expires.IsZero() && time.Now().After(r.Expires):
					state = "expired"
				}
				fmt.Fprintf(w, "%-10s %-24s %-10s %-20s %s\n", r.Role, r.Name, state, r.Issued.Format(time.RFC3339), r.PublicKey)
			}
			return nil
		},
	}
	addIssuerFlag(cmd, &dir)
	cmd.Flags().StringVar(&roleName, "role", "", "list only this role")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print machine-readable JSON")
	return cmd
}

func newKeysServerConfigCmd() *cobra.Command {
	var dir, resolverDir string
	cmd := &cobra.Command{
		Use:   "server-config",
		Short: "Print the nats-server configuration that makes a broker (or every cluster member) trust the issuer",
		Long: `Print the nats-server configuration that makes a broker trust the issuer:
the operator, the system account, a full account resolver (storing account
JWTs in --resolver-dir, one directory per server) and the accounts. It holds
no secret. Give it to pulse broker (--auth FILE) or include it in a
nats-server.conf; every client must then log in with issued credentials.`,
		Example: `  pulse keys server-config --resolver-dir /var/lib/pulse/jwt > /etc/pulse/auth.conf
  pulse broker --auth /etc/pulse/auth.conf --jetstream /var/lib/pulse/js`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			is, err := openIssuer(c, dir)
			if err != nil {
				return err
			}
			fmt.Fprint(c.OutOrStdout(), is.ServerConfig(resolverDir))
			return nil
		},
	}
	addIssuerFlag(cmd, &dir)
	cmd.Flags().StringVar(&resolverDir, "resolver-dir", "jwt", "directory where each server keeps account JWTs (relative paths are from the server's working directory)")
	return cmd
}
