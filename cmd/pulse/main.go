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

	"github.com/pulseops/pulse/internal/filter"
)

// Exit codes, as DESIGN.md promises.
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
	root.AddCommand(commands()...)
	return root
}

func newLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
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
