package facts

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// LoadClasses reads a Puppet classes.txt (for example
// /opt/puppetlabs/puppet/cache/state/classes.txt): one class per line, blank
// lines and '#' comments skipped. The classes feed the -C filter.
func LoadClasses(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read classes file: %w", err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	for sc.Scan() {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read classes file %s: %w", path, err)
	}
	return out, nil
}
