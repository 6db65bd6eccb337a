package main

import (
	"fmt"
	"os/user"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/config"
	"github.com/pulseops/pulse/internal/issuer"
	"github.com/pulseops/pulse/internal/security"
)

// newKeysCmd is `pulse keys`: create and show the ed25519 key that signs a
// person's (or an agent's, or the collector's) messages.
func newKeysCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Bus credentials (issue, revoke, the brokers' trust) and the ed25519 keys that sign messages",
	}
	cmd.AddCommand(newKeysInitCmd(), newKeysShowCmd())
	cmd.AddCommand(issuerCommands()...)
	return cmd
}

func defaultKeyName() string {
	if u, err := user.Current(); err == nil && security.ValidName(u.Username) == nil {
		return u.Username
	}
	return ""
}

func newKeysInitCmd() *cobra.Command {
	var name, dir string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create a key pair (refuses to overwrite an existing one)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := security.ValidName(name); err != nil {
				return usage("--name: %v", err)
			}
			if dir == "" {
				return usage("--dir: no config directory found; pass --dir")
			}
			path := filepath.Join(dir, security.KeyFileName)
			id, err := security.CreateKeyFiles(path, name)
			if err != nil {
				return usageError{err}
			}
			w := c.OutOrStdout()
			fmt.Fprintf(w, "Created the key of %s:\n  private key: %s (mode 0600, keep it secret)\n  public key:  %s\n\n", id.Name, path, security.PublicPath(path))
			fmt.Fprintf(w, "public key:  %s\nfingerprint: %s\n\n", id.PublicKey(), id.Fingerprint())
			fmt.Fprintf(w, "To have agents accept your requests, add this to their trusted keys file:\n\n- name: %s\n  key: %s\n  groups: [ops]\n", id.Name, id.PublicKey())
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", defaultKeyName(), "the name this key speaks for (your user name, a node identity, or collector)")
	cmd.Flags().StringVar(&dir, "dir", security.UserKeyDir(), "directory to write id.key and id.pub to")
	return cmd
}

func newKeysShowCmd() *cobra.Command {
	var (
		keyFile, credsFile string
		asJSON             bool
	)
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show what the client logs in and signs with: its credentials (name, groups, expiry) or its key",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := config.Resolve(c.Flags(), "PULSE", nil); err != nil {
				return usageError{err}
			}
			if credsFile == "" && keyFile == "" {
				credsFile = security.FindCreds()
			}
			var id *security.Identity
			var err error
			show := map[string]string{}
			if credsFile != "" {
				info, err := bus.ReadCreds(credsFile)
				if err != nil {
					return usageError{err}
				}
				if id, err = security.LoadCreds(credsFile); err != nil {
					return usageError{err}
				}
				show["account"], show["issuer"] = info.Account, info.Issuer
				show["groups"] = strings.Join(issuer.Groups(info.Tags), ", ")
				if !info.Expires.IsZero() {
					show["expires"] = info.Expires.UTC().Format(time.RFC3339)
				}
			} else if id, err = security.FindKey(keyFile); err != nil {
				return err
			}
			if id == nil {
				return fmt.Errorf("no credentials or key found (looked for %v and %v): get credentials from your operator (`pulse keys issue user NAME`), or create a key with `pulse keys init`",
					security.CredsCandidates(), security.KeyCandidates(keyFile))
			}
			show["name"], show["file"], show["public_key"], show["fingerprint"] = id.Name, id.Path, id.PublicKey(), id.Fingerprint()
			if asJSON {
				return printJSON(c.OutOrStdout(), show)
			}
			for _, k := range []string{"name", "file", "groups", "expires", "account", "issuer", "public_key", "fingerprint"} {
				if v := show[k]; v != "" {
					fmt.Fprintf(c.OutOrStdout(), "%-12s %s\n", strings.ReplaceAll(k, "_", " ")+":", v)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&credsFile, "creds", "", "credentials file (default: ~/.config/pulse/id.creds, then the demo's demo.creds)")
	cmd.Flags().StringVar(&keyFile, "key", "", "private key file, without credentials (default: ~/.config/pulse/id.key)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print machine-readable JSON")
	return cmd
}
