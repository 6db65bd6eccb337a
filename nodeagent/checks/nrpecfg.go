package checks

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// NRPEConfig is what pulse takes from an nrpe.cfg: the command definitions
// and whether arguments are allowed. Every other NRPE setting (ports,
// allowed_hosts, users) belongs to the NRPE daemon and is ignored.
type NRPEConfig struct {
	// Commands maps a command name to its argument vector.
	Commands map[string][]string
	// Origin maps a command name to the "file:line" that defined it last.
	Origin map[string]string
	// DontBlameNRPE is dont_blame_nrpe=1: callers may fill $ARGn$.
	DontBlameNRPE bool
	// Files lists every file read, in order.
	Files []string
}

// LoadNRPE reads an nrpe.cfg with its include and include_dir files.
// Errors name the file and line ("/etc/nagios/nrpe.cfg:12: ...").
func LoadNRPE(path string) (*NRPEConfig, error) {
	l := &nrpeLoader{readFile: os.ReadFile, readDir: readCfgDir}
	return l.load(path)
}

// nrpeLoader holds the file access of the loader so the fuzz test can parse
// without touching the disk.
type nrpeLoader struct {
	readFile func(string) ([]byte, error)
	readDir  func(string) ([]string, error)
}

// maxIncludeDepth stops runaway include chains that are not cycles (for
// example through ever-new symlink names).
const maxIncludeDepth = 16

func (l *nrpeLoader) load(path string) (*NRPEConfig, error) {
	cfg := &NRPEConfig{Commands: map[string][]string{}, Origin: map[string]string{}}
	b, err := l.readFile(path)
	if err != nil {
		return nil, fmt.Errorf("read nrpe config: %w", err)
	}
	if err := l.parse(cfg, path, b, []frame{{canonical(path), path}}); err != nil {
		return nil, err
	}
	return cfg, nil
}

func canonical(path string) string {
	if p, err := filepath.Abs(path); err == nil {
		path = p
	}
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p
	}
	return path
}

// frame is one file on the include stack: its canonical path finds cycles,
// its path as written explains them.
type frame struct{ canon, shown string }

func (l *nrpeLoader) parse(cfg *NRPEConfig, file string, b []byte, stack []frame) error {
	cfg.Files = append(cfg.Files, file)
	for i, line := range strings.Split(string(b), "\n") {
		lineNo := i + 1
		errf := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", file, lineNo, fmt.Sprintf(format, args...))
		}
		line = strings.TrimSpace(strings.TrimSuffix(line, "\r"))
		if line == "" || line[0] == '#' {
			continue
		}
		key, val, ok := strings.Cut(line, "=")
		if !ok {
			return errf("expected key=value, got %q", short(line))
		}
		key = strings.TrimSpace(key)
		val = strings.TrimSpace(val)
		switch {
		case strings.HasPrefix(key, "command["):
			if !strings.HasSuffix(key, "]") {
				return errf("command definition %q has no closing ']'", short(key))
			}
			name := key[len("command[") : len(key)-1]
			if err := ValidName(name); err != nil {
				return errf("%v", err)
			}
			argv, err := SplitCommandLine(val)
			if err != nil {
				return errf("command[%s]: %v", name, err)
			}
			if len(argv) == 0 {
				return errf("command[%s] has an empty command line", name)
			}
			cfg.Commands[name] = argv
			cfg.Origin[name] = fmt.Sprintf("%s:%d", file, lineNo)
		case key == "dont_blame_nrpe":
			switch val {
			case "0":
				cfg.DontBlameNRPE = false
			case "1":
				cfg.DontBlameNRPE = true
			default:
				return errf("dont_blame_nrpe must be 0 or 1, got %q", short(val))
			}
		case key == "include":
			if err := l.include(cfg, file, lineNo, val, resolve(file, val), stack); err != nil {
				return err
			}
		case key == "include_dir":
			dir := resolve(file, val)
			names, err := l.readDir(dir)
			if err != nil {
				return errf("include_dir %s: %v", val, err)
			}
			for _, n := range names {
				if err := l.include(cfg, file, lineNo, filepath.Join(val, n), filepath.Join(dir, n), stack); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// include parses path (target as written in file) into cfg.
func (l *nrpeLoader) include(cfg *NRPEConfig, file string, lineNo int, target, path string, stack []frame) error {
	c := canonical(path)
	if i := slices.IndexFunc(stack, func(f frame) bool { return f.canon == c }); i >= 0 {
		var chain []string
		for _, f := range stack[i:] {
			chain = append(chain, f.shown)
		}
		chain = append(chain, path)
		return fmt.Errorf("%s:%d: include cycle: %s", file, lineNo, strings.Join(chain, " -> "))
	}
	if len(stack) >= maxIncludeDepth {
		return fmt.Errorf("%s:%d: includes nested deeper than %d files", file, lineNo, maxIncludeDepth)
	}
	b, err := l.readFile(path)
	if err != nil {
		return fmt.Errorf("%s:%d: include %s: %w", file, lineNo, target, err)
	}
	return l.parse(cfg, path, b, append(stack, frame{c, path}))
}

// resolve makes an include path relative to the including file's folder;
// NRPE itself resolves against its working directory, which for a daemon is
// "/", so absolute paths (the norm) mean the same either way.
func resolve(from, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(filepath.Dir(from), p)
}

// readCfgDir lists the *.cfg files of dir, sorted, as NRPE includes them.
func readCfgDir(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".cfg") {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

func short(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// SplitCommandLine splits an NRPE command line into an argument vector the
// way sh would for the plain cases: words separated by blanks, '...' taken
// literally, "..." with \" and \\ escapes, and a backslash outside quotes
// escaping the next character. Anything that only a shell could honour
// (pipes, lists, redirections, command substitution, variable expansion,
// globs, subshells) is an error, because pulse never runs a shell and
// silently passing such text to the plugin would change its meaning.
// NRPE's $ARGn$ macros are kept for Runner to fill.
func SplitCommandLine(s string) ([]string, error) {
	var (
		out    []string
		cur    strings.Builder
		inWord bool
	)
	shellErr := func(what string, i int) error {
		return fmt.Errorf("%s at column %d needs a shell; pulse runs commands without one, so put it in a script and call that", what, i+1)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("unterminated single quote at column %d", i+1)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			j := i + 1
			closed := false
			for ; j < len(s); j++ {
				d := s[j]
				if d == '"' {
					closed = true
					break
				}
				if d == '\\' && j+1 < len(s) && strings.IndexByte("\"\\$`", s[j+1]) >= 0 {
					cur.WriteByte(s[j+1])
					j++
					continue
				}
				if d == '`' {
					return nil, shellErr("command substitution '`'", j)
				}
				if d == '$' {
					if n := macroLen(s, j); n > 0 {
						cur.WriteString(s[j : j+n])
						j += n - 1
						continue
					}
					if err := checkDollar(s, j, shellErr); err != nil {
						return nil, err
					}
				}
				cur.WriteByte(d)
			}
			if !closed {
				return nil, fmt.Errorf("unterminated double quote at column %d", i+1)
			}
			i = j
			inWord = true
		case c == '\\':
			if i+1 >= len(s) {
				return nil, fmt.Errorf("trailing backslash at column %d", i+1)
			}
			cur.WriteByte(s[i+1])
			i++
			inWord = true
		case c == '|':
			return nil, shellErr("pipe '|'", i)
		case c == ';':
			return nil, shellErr("command separator ';'", i)
		case c == '&':
			return nil, shellErr("'&' (background or &&)", i)
		case c == '>' || c == '<':
			return nil, shellErr(fmt.Sprintf("redirection '%c'", c), i)
		case c == '`':
			return nil, shellErr("command substitution '`'", i)
		case c == '(' || c == ')':
			return nil, shellErr(fmt.Sprintf("subshell '%c'", c), i)
		case c == '*' || c == '?':
			return nil, shellErr(fmt.Sprintf("glob '%c'", c), i)
		case c == '$':
			if n := macroLen(s, i); n > 0 {
				cur.WriteString(s[i : i+n])
				i += n - 1
				inWord = true
				continue
			}
			if err := checkDollar(s, i, shellErr); err != nil {
				return nil, err
			}
			cur.WriteByte(c)
			inWord = true
		case c == '\n' || c == '\r' || c == 0:
			return nil, fmt.Errorf("control character %q at column %d", c, i+1)
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out, nil
}

// macroLen is the length of the $ARGn$ macro starting at s[i], or 0.
func macroLen(s string, i int) int {
	if m := argMacro.FindStringIndex(s[i:]); m != nil && m[0] == 0 {
		return m[1]
	}
	return 0
}

// checkDollar allows a lone '$' that a shell would leave alone; $(, ${ and
// $NAME are shell expansions.
func checkDollar(s string, i int, shellErr func(string, int) error) error {
	if i+1 < len(s) {
		switch d := s[i+1]; {
		case d == '(':
			return shellErr("command substitution '$('", i)
		case d == '{' || d == '_' || d >= 'a' && d <= 'z' || d >= 'A' && d <= 'Z' || d >= '0' && d <= '9' || strings.IndexByte("?!#@*$-", d) >= 0:
			return shellErr(fmt.Sprintf("variable expansion '$%c'", d), i)
		}
	}
	return nil
}
