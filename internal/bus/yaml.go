package bus

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v4"
)

// UnmarshalYAML reads the `nats:` block. Besides the full block it takes the
// short forms older configs use: a list of URLs (`nats: [nats://a:4222]`) or
// one string of comma-separated URLs, as the CLI's --nats flag takes.
// Unknown keys are errors, as everywhere in pulse's configuration.
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.SequenceNode:
		*c = Config{}
		return n.Decode(&c.URLs)
	case yaml.ScalarNode:
		*c = Config{}
		var s string
		if err := n.Decode(&s); err != nil {
			return err
		}
		for _, u := range strings.Split(s, ",") {
			if u = strings.TrimSpace(u); u != "" {
				c.URLs = append(c.URLs, u)
			}
		}
		return nil
	case yaml.MappingNode:
		// A node decodes without the caller's strictness, so unknown keys
		// are checked here, reported as yaml's own strict decoder would.
		known := yamlKeys(reflect.TypeFor[Config]())
		var errs []string
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if !known[k.Value] {
				errs = append(errs, fmt.Sprintf("line %d: field %s not found in type bus.Config", k.Line, k.Value))
			}
		}
		if errs != nil {
			//lint:ignore SA1019 internal/config reads an unmarshaler's errors, each with its line, from a TypeError (yaml v4.0.0)
			return &yaml.TypeError{Errors: errs}
		}
		type plain Config
		return n.Decode((*plain)(c))
	}
	//lint:ignore SA1019 as above
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: nats must be a list of URLs or a block of urls, tls and credentials", n.Line)}}
}

// yamlKeys lists the keys a struct type decodes, following inline fields.
func yamlKeys(t reflect.Type) map[string]bool {
	keys := map[string]bool{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		switch {
		case name == "-":
		case strings.Contains(opts, "inline"):
			for k := range yamlKeys(f.Type) {
				keys[k] = true
			}
		case name != "":
			keys[name] = true
		default:
			keys[strings.ToLower(f.Name)] = true
		}
	}
	return keys
}
