package probes

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/pulseops/pulse/internal/config"
)

// specFile is the YAML shape of a probe file. Decoding is strict, so every
// field a user may write is here and nothing else is accepted.
type specFile struct {
	Name     string            `yaml:"name"`
	Type     string            `yaml:"type"`
	Interval time.Duration     `yaml:"interval"`
	Timeout  time.Duration     `yaml:"timeout"`
	Vars     map[string]string `yaml:"vars"`
	Steps    []stepSpec        `yaml:"steps"`
	Target   string            `yaml:"target"`
	TCP      *tcpSpec          `yaml:"tcp"`
	DNS      *dnsSpec          `yaml:"dns"`
}

type stepSpec struct {
	Name            string                 `yaml:"name"`
	Method          string                 `yaml:"method"`
	URL             string                 `yaml:"url"`
	Headers         map[string]string      `yaml:"headers"`
	Form            map[string]string      `yaml:"form"`
	JSON            any                    `yaml:"json"`
	Body            *string                `yaml:"body"`
	FollowRedirects *bool                  `yaml:"follow_redirects"`
	Timeout         time.Duration          `yaml:"timeout"`
	TLS             *tlsSpec               `yaml:"tls"`
	Expect          expectSpec             `yaml:"expect"`
	Extract         map[string]extractSpec `yaml:"extract"`
}

type tlsSpec struct {
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify"`
	CAFile             string `yaml:"ca_file"`
	ServerName         string `yaml:"server_name"`
}

type expectSpec struct {
	Status       int            `yaml:"status"`
	BodyRegex    string         `yaml:"body_regex"`
	BodyNotRegex string         `yaml:"body_not_regex"`
	JSON         map[string]any `yaml:"json"`
}

type extractSpec struct {
	Regex  string `yaml:"regex"`
	JSON   string `yaml:"json"`
	Header string `yaml:"header"`
	Cookie string `yaml:"cookie"`
}

type tcpSpec struct {
	Send        string `yaml:"send"`
	ExpectRegex string `yaml:"expect_regex"`
}

type dnsSpec struct {
	Server      string `yaml:"server"`
	Record      string `yaml:"record"`
	AnswerRegex string `yaml:"answer_regex"`
}

// Load reads and validates the probe file at path.
func Load(path string) (*Probe, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read probe file: %w", err)
	}
	return Parse(path, b)
}

// Parse validates a probe spec. name is the file name used in errors and
// the directory that a relative tls.ca_file is resolved against. Errors are
// *config.Error values reading "name:line: reason" (config.Errors when the
// file has several problems).
func Parse(name string, b []byte) (*Probe, error) {
	var sf specFile
	if err := config.Decode(name, b, &sf); err != nil {
		return nil, err
	}
	// A second pass into a node tree gives validation errors their lines;
	// it cannot fail where the strict decode above succeeded.
	var root yaml.Node
	_ = yaml.Unmarshal(b, &root)
	v := &validator{file: name, root: &root}
	p := v.probe(&sf)
	if v.err != nil {
		return nil, v.err
	}
	return p, nil
}

// validator turns a decoded specFile into a Probe, keeping the first error.
type validator struct {
	file string
	root *yaml.Node
	err  error
}

func (v *validator) failf(path []any, format string, args ...any) {
	if v.err == nil {
		v.err = config.At(v.file, find(v.root, path...), format, args...)
	}
}

// find returns the node at path (map keys as strings, sequence indexes as
// ints), or the deepest node that exists on the way, so an error about a
// missing key points at the mapping that lacks it.
func find(n *yaml.Node, path ...any) *yaml.Node {
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, p := range path {
		if n.Kind == yaml.AliasNode && n.Alias != nil {
			n = n.Alias
		}
		next := (*yaml.Node)(nil)
		switch k := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						next = n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k < len(n.Content) {
				next = n.Content[k]
			}
		}
		if next == nil {
			return n
		}
		n = next
	}
	return n
}

var (
	// Probe names end up in NATS subjects and metric labels, so they keep
	// to characters that are safe in both.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	varRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

var methods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}

var recordTypes = []string{"A", "AAAA", "CNAME", "MX", "NS", "TXT"}

func (v *validator) probe(sf *specFile) *Probe {
	p := &Probe{Name: sf.Name, Type: sf.Type, Interval: sf.Interval, Timeout: sf.Timeout, File: v.file, vars: map[string]string{}}
	switch {
	case sf.Name == "":
		v.failf(nil, "name is required")
	case !nameRE.MatchString(sf.Name):
		v.failf([]any{"name"}, "name %q may only hold letters, digits, '_' and '-'", sf.Name)
	}
	if _, ok := probers()[sf.Type]; !ok {
		if sf.Type == "" {
			v.failf(nil, "type is required: use one of dns, http, tcp")
		} else {
			v.failf([]any{"type"}, "unknown probe type %q: use one of dns, http, tcp", sf.Type)
		}
	}
	if p.Interval == 0 {
		p.Interval = DefaultInterval
	}
	if p.Timeout == 0 {
		p.Timeout = DefaultTimeout
	}
	switch {
	case sf.Interval < 0:
		v.failf([]any{"interval"}, "interval must be positive, got %s", sf.Interval)
	case sf.Timeout < 0:
		v.failf([]any{"timeout"}, "timeout must be positive, got %s", sf.Timeout)
	case p.Timeout > p.Interval:
		v.failf([]any{"timeout"}, "timeout %s is longer than interval %s: runs would overlap", p.Timeout, p.Interval)
	}
	defined := map[string]bool{}
	for _, k := range sortedKeys(sf.Vars) {
		if !varRE.MatchString(k) {
			v.failf([]any{"vars"}, "variable name %q must be a letter or '_' followed by letters, digits or '_'", k)
		}
		p.vars[k] = sf.Vars[k]
		defined[k] = true
	}
	switch sf.Type {
	case "http":
		if sf.Target != "" {
			v.failf([]any{"target"}, "target is for tcp and dns probes; an http probe names its url in each step")
		}
		if sf.TCP != nil || sf.DNS != nil {
			v.failf(nil, "tcp and dns settings are not allowed in an http probe")
		}
		if len(sf.Steps) == 0 {
			v.failf(nil, "an http probe needs at least one step under steps")
		}
		seen := map[string]bool{}
		for i := range sf.Steps {
			path := []any{"steps", i}
			st := v.step(path, &sf.Steps[i], defined)
			if seen[st.name] {
				v.failf(append(path, "name"), "duplicate step name %q", st.name)
			}
			seen[st.name] = true
			p.steps = append(p.steps, st)
		}
	case "tcp", "dns":
		if len(sf.Steps) > 0 {
			v.failf([]any{"steps"}, "steps are for http probes; a %s probe has a target", sf.Type)
		}
		if sf.Target == "" {
			v.failf(nil, "a %s probe needs a target", sf.Type)
			break
		}
		v.refs([]any{"target"}, sf.Target, defined)
		if sf.Type == "tcp" {
			p.tcp = v.tcp(sf, defined)
		} else {
			p.dns = v.dns(sf, defined)
		}
	}
	return p
}

func (v *validator) step(path []any, ss *stepSpec, defined map[string]bool) step {
	st := step{
		name:            ss.Name,
		method:          ss.Method,
		url:             ss.URL,
		headers:         ss.Headers,
		followRedirects: ss.FollowRedirects == nil || *ss.FollowRedirects,
		timeout:         ss.Timeout,
	}
	if ss.Name == "" {
		v.failf(path, "step name is required")
	} else if !nameRE.MatchString(ss.Name) {
		v.failf(append(path, "name"), "step name %q may only hold letters, digits, '_' and '-'", ss.Name)
	}
	if st.method == "" {
		st.method = "GET"
	}
	if !slices.Contains(methods, st.method) {
		v.failf(append(path, "method"), "step %q: bad method %q: use one of %s", ss.Name, ss.Method, strings.Join(methods, ", "))
	}
	if ss.URL == "" {
		v.failf(path, "step %q: url is required", ss.Name)
	} else if !strings.Contains(ss.URL, "${") {
		// A url built from variables is checked when it runs, since the
		// agent may override them.
		if u, err := url.Parse(ss.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.failf(append(path, "url"), "step %q: url %q must be an absolute http or https URL", ss.Name, ss.URL)
		}
	}
	if ss.Timeout < 0 {
		v.failf(append(path, "timeout"), "step %q: timeout must be positive, got %s", ss.Name, ss.Timeout)
	}
	v.refs(append(path, "url"), ss.URL, defined)
	for _, k := range sortedKeys(ss.Headers) {
		v.refs(append(path, "headers", k), ss.Headers[k], defined)
	}

	bodies := 0
	if ss.Form != nil {
		bodies++
		st.form = ss.Form
		for _, k := range sortedKeys(ss.Form) {
			v.refs(append(path, "form", k), ss.Form[k], defined)
		}
	}
	if ss.JSON != nil {
		bodies++
		st.json = ss.JSON
		if _, err := json.Marshal(ss.JSON); err != nil {
			v.failf(append(path, "json"), "step %q: json body cannot be encoded as JSON (are all keys strings?): %v", ss.Name, err)
		}
		walkStrings(ss.JSON, func(s string) { v.refs(append(path, "json"), s, defined) })
	}
	if ss.Body != nil {
		bodies++
		st.body = ss.Body
		v.refs(append(path, "body"), *ss.Body, defined)
	}
	if bodies > 1 {
		v.failf(path, "step %q: use only one of form, json and body", ss.Name)
	}
	if ss.TLS != nil {
		st.tls = v.tls(append(path, "tls"), ss.Name, ss.TLS)
	}
	st.expect = v.expect(append(path, "expect"), ss.Name, &ss.Expect, defined)
	for _, k := range sortedKeys(ss.Extract) {
		st.extract = append(st.extract, v.extraction(append(path, "extract", k), ss.Name, k, ss.Extract[k]))
	}
	// Extracted values become defined only after the whole step, so a step
	// cannot use its own extraction.
	for _, k := range sortedKeys(ss.Extract) {
		defined[k] = true
	}
	return st
}

func (v *validator) tls(path []any, stepName string, ts *tlsSpec) *tls.Config {
	cfg := &tls.Config{InsecureSkipVerify: ts.InsecureSkipVerify, ServerName: ts.ServerName} //nolint:gosec // the user asked for it, per step
	if ts.CAFile == "" {
		return cfg
	}
	file := ts.CAFile
	if !filepath.IsAbs(file) {
		file = filepath.Join(filepath.Dir(v.file), file)
	}
	pem, err := os.ReadFile(file)
	if err != nil {
		v.failf(append(path, "ca_file"), "step %q: read ca_file: %v", stepName, err)
		return cfg
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		v.failf(append(path, "ca_file"), "step %q: ca_file %s holds no PEM certificate", stepName, file)
	}
	cfg.RootCAs = pool
	return cfg
}

func (v *validator) expect(path []any, stepName string, es *expectSpec, defined map[string]bool) expect {
	ex := expect{status: es.Status, bodyRegex: es.BodyRegex, bodyNotRegex: es.BodyNotRegex}
	if es.Status != 0 && (es.Status < 100 || es.Status > 599) {
		v.failf(append(path, "status"), "step %q: expected status %d is not an HTTP status (100-599)", stepName, es.Status)
	}
	for _, kv := range [][2]string{{"body_regex", es.BodyRegex}, {"body_not_regex", es.BodyNotRegex}} {
		key, re := kv[0], kv[1]
		if re == "" {
			continue
		}
		v.refs(append(path, key), re, defined)
		// Variables are substituted, quoted, when the step runs; a
		// placeholder lets the rest of the pattern be checked now.
		if _, err := regexp.Compile(expandRefs(re, func(string) string { return "x" })); err != nil {
			v.failf(append(path, key), "step %q: bad %s %q: %v", stepName, key, re, regexpReason(err))
		}
	}
	for _, k := range sortedKeys(es.JSON) {
		jp, err := parseJSONPath(k)
		if err != nil {
			v.failf(append(path, "json"), "step %q: bad json path %q: %v", stepName, k, err)
			continue
		}
		if _, err := json.Marshal(es.JSON[k]); err != nil {
			v.failf(append(path, "json", k), "step %q: expected value at %s cannot be compared as JSON: %v", stepName, k, err)
		}
		walkStrings(es.JSON[k], func(s string) { v.refs(append(path, "json", k), s, defined) })
		ex.json = append(ex.json, jsonAssert{path: jp, want: es.JSON[k]})
	}
	return ex
}

func (v *validator) extraction(path []any, stepName, name string, es extractSpec) extraction {
	ext := extraction{name: name, header: es.Header, cookie: es.Cookie}
	if !varRE.MatchString(name) {
		v.failf(path, "step %q: extracted variable name %q must be a letter or '_' followed by letters, digits or '_'", stepName, name)
	}
	n := 0
	for _, s := range []string{es.Regex, es.JSON, es.Header, es.Cookie} {
		if s != "" {
			n++
		}
	}
	if n != 1 {
		v.failf(path, "step %q: extract %s needs exactly one of regex, json, header, cookie", stepName, name)
		return ext
	}
	switch {
	case es.Regex != "":
		re, err := regexp.Compile(es.Regex)
		if err != nil {
			v.failf(append(path, "regex"), "step %q: extract %s: bad regex %q: %v", stepName, name, es.Regex, regexpReason(err))
			return ext
		}
		if re.NumSubexp() < 1 {
			v.failf(append(path, "regex"), "step %q: extract %s: regex %q needs a capture group, e.g. (.+), for the value", stepName, name, es.Regex)
		}
		ext.re = re
	case es.JSON != "":
		jp, err := parseJSONPath(es.JSON)
		if err != nil {
			v.failf(append(path, "json"), "step %q: extract %s: bad json path %q: %v", stepName, name, es.JSON, err)
		}
		ext.json = jp
		ext.jsonRaw = es.JSON
	}
	return ext
}

func (v *validator) tcp(sf *specFile, defined map[string]bool) *tcpProbe {
	tp := &tcpProbe{target: sf.Target}
	if sf.DNS != nil {
		v.failf([]any{"dns"}, "dns settings are not allowed in a tcp probe")
	}
	if !strings.Contains(sf.Target, "${") {
		if _, port, err := net.SplitHostPort(sf.Target); err != nil || port == "" {
			v.failf([]any{"target"}, "tcp target %q must be host:port", sf.Target)
		}
	}
	if sf.TCP == nil {
		return tp
	}
	tp.send = sf.TCP.Send
	v.refs([]any{"tcp", "send"}, sf.TCP.Send, defined)
	if sf.TCP.ExpectRegex != "" {
		re, err := regexp.Compile(sf.TCP.ExpectRegex)
		if err != nil {
			v.failf([]any{"tcp", "expect_regex"}, "bad expect_regex %q: %v", sf.TCP.ExpectRegex, regexpReason(err))
		}
		tp.expect = re
	}
	return tp
}

func (v *validator) dns(sf *specFile, defined map[string]bool) *dnsProbe {
	dp := &dnsProbe{name: sf.Target, record: "A"}
	if sf.TCP != nil {
		v.failf([]any{"tcp"}, "tcp settings are not allowed in a dns probe")
	}
	if sf.DNS == nil {
		return dp
	}
	if sf.DNS.Record != "" {
		dp.record = strings.ToUpper(sf.DNS.Record)
		if !slices.Contains(recordTypes, dp.record) {
			v.failf([]any{"dns", "record"}, "unsupported record type %q: use one of %s", sf.DNS.Record, strings.Join(recordTypes, ", "))
		}
	}
	if s := sf.DNS.Server; s != "" {
		dp.server = s
		v.refs([]any{"dns", "server"}, s, defined)
		if !strings.Contains(s, "${") {
			if _, err := serverAddr(s); err != nil {
				v.failf([]any{"dns", "server"}, "%v", err)
			}
		}
	}
	if sf.DNS.AnswerRegex != "" {
		re, err := regexp.Compile(sf.DNS.AnswerRegex)
		if err != nil {
			v.failf([]any{"dns", "answer_regex"}, "bad answer_regex %q: %v", sf.DNS.AnswerRegex, regexpReason(err))
		}
		dp.expect = re
	}
	return dp
}

// refs checks that every ${var} in s is defined and well formed.
// The error names the step, or the key path for a field outside steps.
func (v *validator) refs(path []any, s string, defined map[string]bool) {
	where := ""
	if len(path) >= 2 && path[0] == "steps" {
		if i, ok := path[1].(int); ok {
			where = fmt.Sprintf("step %q: ", v.stepName(i))
		}
	}
	rest := expandRefs(s, func(name string) string {
		if !defined[name] {
			v.failf(path, "%svariable ${%s} is not defined: add it under vars or extract it in an earlier step", where, name)
		}
		return ""
	})
	if strings.Contains(rest, "${") {
		v.failf(path, "%smalformed variable reference in %q: write ${name} with a name of letters, digits and '_'", where, s)
	}
}

// stepName is the name of step i as written in the file, for messages.
func (v *validator) stepName(i int) string {
	n := find(v.root, "steps", i, "name")
	if n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// regexpReason drops the pattern that regexp repeats in its errors, since
// messages here quote it already.
func regexpReason(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return se.Code.String()
	}
	return err.Error()
}

// walkStrings calls f on every string in a decoded YAML or JSON value.
func walkStrings(v any, f func(string)) {
	switch x := v.(type) {
	case string:
		f(x)
	case map[string]any:
		for _, k := range sortedKeys(x) {
			walkStrings(x[k], f)
		}
	case []any:
		for _, e := range x {
			walkStrings(e, f)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
