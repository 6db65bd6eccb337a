package checks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrUnknownCommand is returned by Runner.Run for a name that no command is
// configured for.
var ErrUnknownCommand = errors.New("unknown nrpe command")

// ErrInvalidInput is returned by Runner.Run for a name or an argument that
// fails validation; nothing was run.
var ErrInvalidInput = errors.New("invalid nrpe input")

// Limits on arguments that arrive over the network, as NRPE's
// MAX_COMMAND_ARGUMENTS and a generous per-argument length.
const (
	MaxArguments   = 16
	MaxArgumentLen = 1024
)

// DefaultPluginDir is where Debian's monitoring-plugins install.
const DefaultPluginDir = "/usr/lib/nagios/plugins"

// RunnerOptions configures a Runner.
type RunnerOptions struct {
	// PluginDir resolves relative plugin names; default DefaultPluginDir.
	PluginDir string
	// Root is the filesystem root builtins read procfs and sysfs under;
	// default "/". Tests point it at testdata.
	Root string
	// Commands maps a command name to its argument vector, from the agent
	// config and nrpe.cfg. Elements may hold $ARGn$ macros.
	Commands map[string][]string
	// AllowArguments lets callers fill $ARGn$ macros, like NRPE's
	// dont_blame_nrpe=1. Off, any argument is refused.
	AllowArguments bool
	// PreferBuiltin runs the native builtin also when a command names the
	// plugin by its path in PluginDir (for example
	// /usr/lib/nagios/plugins/check_load), saving a fork per run.
	PreferBuiltin bool
	// Timeout applies when Run is given none; default DefaultTimeout.
	Timeout time.Duration
	// MaxOutput bounds kept plugin output; default DefaultMaxOutput.
	MaxOutput int
	// Builtins adds native checks by program name beside check_load; the
	// demo's simulated nodes use it for checks of simulated services.
	Builtins map[string]Builtin
	Log      *slog.Logger
}

// Builtin is a native check: it gets the filesystem root and the arguments
// after the command name, and never forks.
type Builtin func(root string, args []string) Outcome

// Runner resolves named commands and runs them as builtins or plugins.
type Runner struct {
	opts     RunnerOptions
	commands map[string][]string
	builtins map[string]Builtin
	log      *slog.Logger
}

// NewRunner returns a Runner with opts' defaults filled in. The command map
// is copied, so later changes by the caller do not affect it.
func NewRunner(opts RunnerOptions) *Runner {
	if opts.PluginDir == "" {
		opts.PluginDir = DefaultPluginDir
	}
	if opts.Root == "" {
		opts.Root = "/"
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxOutput <= 0 {
		opts.MaxOutput = DefaultMaxOutput
	}
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cmds := make(map[string][]string, len(opts.Commands))
	for k, v := range opts.Commands {
		cmds[k] = slices.Clone(v)
	}
	builtins := map[string]Builtin{"check_load": checkLoad}
	maps.Copy(builtins, opts.Builtins)
	return &Runner{
		opts:     opts,
		commands: cmds,
		builtins: builtins,
		log:      log.With("component", "checks"),
	}
}

// Commands lists the configured command names, sorted.
func (r *Runner) Commands() []string {
	return slices.Sorted(maps.Keys(r.commands))
}

// Run resolves name to a configured command, substitutes args into its
// $ARGn$ macros and runs it: natively when its program names a builtin,
// otherwise as a plugin. It returns ErrUnknownCommand or ErrInvalidInput
// (wrapped, with the reason) without running anything when the name or an
// argument is refused; every other failure is an UNKNOWN Outcome. A timeout
// <= 0 uses the Runner's default.
func (r *Runner) Run(ctx context.Context, name string, args []string, timeout time.Duration) (Outcome, error) {
	if err := ValidName(name); err != nil {
		return Outcome{}, fmt.Errorf("%w: %w", ErrInvalidInput, err)
	}
	if len(args) > 0 && !r.opts.AllowArguments {
		return Outcome{}, fmt.Errorf("%w: command %s was given %d argument(s) but arguments are not allowed (enable dont_blame_nrpe or allow_arguments to permit them)", ErrInvalidInput, name, len(args))
	}
	if len(args) > MaxArguments {
		return Outcome{}, fmt.Errorf("%w: %d arguments given, at most %d are allowed", ErrInvalidInput, len(args), MaxArguments)
	}
	for i, a := range args {
		if err := ValidArgument(a); err != nil {
			return Outcome{}, fmt.Errorf("%w: argument %d: %w", ErrInvalidInput, i+1, err)
		}
	}
	tmpl, ok := r.commands[name]
	if !ok {
		return Outcome{}, fmt.Errorf("%w %q: configured commands are %s", ErrUnknownCommand, name, strings.Join(r.Commands(), ", "))
	}
	argv := expandArgs(tmpl, args)
	if len(argv) == 0 {
		return Outcome{}, fmt.Errorf("%w: command %s is empty", ErrInvalidInput, name)
	}
	if timeout <= 0 {
		timeout = r.opts.Timeout
	}
	var o Outcome
	if b, ok := r.builtinFor(argv[0]); ok {
		start := time.Now()
		o = b(r.opts.Root, argv[1:])
		o.Duration = time.Since(start)
	} else {
		if !filepath.IsAbs(argv[0]) {
			argv[0] = filepath.Join(r.opts.PluginDir, argv[0])
		}
		o = runPlugin(ctx, argv, timeout, r.opts.MaxOutput)
	}
	r.log.Debug("check ran", "command", name, "argv0", argv[0], "status", o.Status, "duration", o.Duration)
	return o, nil
}

func (r *Runner) builtinFor(prog string) (Builtin, bool) {
	if b, ok := r.builtins[prog]; ok {
		return b, true
	}
	if r.opts.PreferBuiltin && filepath.Dir(prog) == filepath.Clean(r.opts.PluginDir) {
		b, ok := r.builtins[filepath.Base(prog)]
		return b, ok
	}
	return nil, false
}

var argMacro = regexp.MustCompile(`\$ARG([0-9]+)\$`)

// expandArgs substitutes $ARGn$ inside each element of tmpl. Because the
// substitution happens after the command line was split, an argument can
// never become more than part of one argv element. An element made only of
// macros that expand to nothing is dropped, as a shell would drop an empty
// unquoted word.
func expandArgs(tmpl, args []string) []string {
	out := make([]string, 0, len(tmpl))
	for _, el := range tmpl {
		if !strings.Contains(el, "$ARG") {
			out = append(out, el)
			continue
		}
		v := argMacro.ReplaceAllStringFunc(el, func(m string) string {
			n, err := strconv.Atoi(m[4 : len(m)-1])
			if err != nil || n < 1 || n > len(args) {
				return ""
			}
			return args[n-1]
		})
		if v == "" && argMacro.ReplaceAllString(el, "") == "" {
			continue
		}
		out = append(out, v)
	}
	return out
}

// ValidName checks a command name: 1 to 128 characters of [A-Za-z0-9_.-],
// not starting with '-' or '.'.
func ValidName(name string) error {
	if name == "" {
		return errors.New("command name is empty")
	}
	if len(name) > 128 {
		return fmt.Errorf("command name is %d bytes long, at most 128 are allowed", len(name))
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-'
		if !ok {
			return fmt.Errorf("command name %q has invalid character %q at position %d (allowed: A-Z a-z 0-9 _ . -)", name, c, i+1)
		}
		if i == 0 && (c == '-' || c == '.') {
			return fmt.Errorf("command name %q must not start with %q", name, c)
		}
	}
	return nil
}

// ValidArgument checks one caller-supplied argument. The allow-list covers
// thresholds and ranges ("80%", "@10:20", "~:5", "5,4,3"), paths and host
// names, and nothing a shell or a plugin's option parser would treat
// specially: no whitespace, quotes, metacharacters, control bytes, and no
// leading '-', so an argument can never turn into an option such as
// --extra-opts that reads files.
func ValidArgument(a string) error {
	if len(a) > MaxArgumentLen {
		return fmt.Errorf("argument is %d bytes long, at most %d are allowed", len(a), MaxArgumentLen)
	}
	if strings.HasPrefix(a, "-") {
		return fmt.Errorf("argument %q must not start with '-'", a)
	}
	for i := 0; i < len(a); i++ {
		c := a[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("._-,:@%/=+~", c) >= 0
		if !ok {
			return fmt.Errorf("argument %q has invalid character %q at position %d (allowed: A-Z a-z 0-9 . _ - , : @ %% / = + ~)", printable(a), c, i+1)
		}
	}
	return nil
}

// printable shortens an argument for an error message.
func printable(a string) string {
	if len(a) > 64 {
		return a[:64] + "..."
	}
	return a
}
