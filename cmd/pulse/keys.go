package main

import (
	"fmt"
	"os/user"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/internal/config"
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
		keyFile string
		asJSON  bool
	)
	cmd := &cobra.Command{
		Use:   "show",
		Short: "Show the key the client signs with: name, file, public key and fingerprint",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := config.Resolve(c.Flags(), "PULSE", nil); err != nil {
				return usageError{err}
			}
			id, err := security.FindKey(keyFile)
			if err != nil {
				return err
			}
			if id == nil {
				return fmt.Errorf("no key found (looked for %v): create one with `pulse keys init`", security.KeyCandidates(keyFile))
			}
			if asJSON {
				return printJSON(c.OutOrStdout(), map[string]string{"name": id.Name, "file": id.Path, "public_key": id.PublicKey(), "fingerprint": id.Fingerprint()})
			}
			fmt.Fprintf(c.OutOrStdout(), "name:        %s\nfile:        %s\npublic key:  %s\nfingerprint: %s\n", id.Name, id.Path, id.PublicKey(), id.Fingerprint())
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "private key file (default: ~/.config/pulse/id.key)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print machine-readable JSON")
	return cmd
}
