// Command pulse is the one binary of pulse: client commands (ping, facts,
// package, service, nrpe, rpc, ...) and daemons (agent, collector, broker,
// demo). It only turns flags into options and errors into exit codes.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/pulseops/pulse/internal/buildinfo"
	"github.com/pulseops/pulse/internal/filter"
)

// Exit codes, as the README promises ("Exit codes" under the CLI).
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// exitError ends the command with a code after its output is printed.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// usageError marks bad usage or bad input: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usage(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func main() { os.Exit(run()) }

func run() int {
	// SIGHUP too: a closed terminal stops a daemon (the demo, its
	// Prometheus and Alertmanager with it) as cleanly as Ctrl-C does.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	root := newRoot()
	err := root.ExecuteContext(ctx)
	code := exitCode(err)
	var ee exitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintf(os.Stderr, "pulse: %v\n", err)
	}
	return code
}

// exitCode maps a command's error to pulse's exit codes.
func exitCode(err error) int {
	if err == nil {
		return exitOK
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ue usageError
	if errors.As(err, &ue) || isFilterError(err) || isFlagError(err) {
		return exitUsage
	}
	return exitFailed
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "pulse",
		Short:         "Orchestrate and monitor a fleet over NATS",
		Long:          longHelp,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.Version = buildinfo.Get().Version
	root.SetVersionTemplate(buildinfo.Get().String())
	root.AddCommand(commands()...)
	root.AddCommand(newVersionCmd())
	return root
}

// logFlags are --log-level and --log-format, which every daemon takes.
type logFlags struct{ level, format string }

func (l *logFlags) register(f *pflag.FlagSet, level string) {
	f.StringVar(&l.level, "log-level", level, "log level: debug, info, warn, error")
	f.StringVar(&l.format, "log-format", "text", "log format: text (logfmt, as Prometheus' own daemons) or json")
}

// logger builds the daemon's logger; a bad level or format is bad usage
// (exit 2), not a silent fallback.
func (l logFlags) logger() (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(l.level)); err != nil {
		return nil, usage("--log-level %q: want debug, info, warn or error", l.level)
	}
	o := &slog.HandlerOptions{Level: lvl}
	switch l.format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, o)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, o)), nil
	}
	return nil, usage("--log-format %q: want text or json", l.format)
}

// newVersionCmd is `pulse version`; --version on any command prints the
// same text.
func newVersionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print pulse's version, the commit and date it was built from, and the Go that built it",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if asJSON {
				return printJSON(c.OutOrStdout(), buildinfo.Get())
			}
			_, err := fmt.Fprint(c.OutOrStdout(), buildinfo.Get().String())
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "machine output")
	return cmd
}

func isFlagError(err error) bool {
	// cobra reports unknown commands and argument count errors as plain
	// errors; they are usage errors too.
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "invalid argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func isFilterError(err error) bool {
	var fe *filter.Error
	return errors.As(err, &fe)
}

// printJSON is --json output: indented, one value.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
