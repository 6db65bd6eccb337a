package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// Resolve applies pulse's precedence to every flag in fs the user did not
// set: the environment variable PREFIX_NAME (dashes become underscores), then
// the value from a config file, then the flag's default. file maps flag
// names to values.
func Resolve(fs *pflag.FlagSet, prefix string, file map[string]string) error {
	var err error
	fs.VisitAll(func(f *pflag.Flag) {
		if err != nil || f.Changed {
			return
		}
		env := prefix + "_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v, ok := os.LookupEnv(env); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("environment %s=%q: %w", env, v, e)
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("config file key %s=%q: %w", f.Name, v, e)
			}
		}
	})
	return err
}
