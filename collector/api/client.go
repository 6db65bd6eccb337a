package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/pulseops/pulse/internal/filter"
)

// Client talks to a collector's HTTP API, for the CLI.
type Client struct {
	// Base is the collector's URL, e.g. http://127.0.0.1:9780.
	Base  string
	Token string
	HTTP  *http.Client
}

// Do sends a request with an optional JSON body and decodes a JSON answer
// into out. A non-2xx answer is an error carrying the collector's message.
func (c *Client) Do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimRight(c.Base, "/")+path, rd)
	if err != nil {
		return fmt.Errorf("collector URL %q: %w", c.Base, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 5 * time.Minute}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach the collector at %s: %w (is `pulse demo` or `pulse collector` running? set --collector)", c.Base, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read collector answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		var e struct {
			Error string `json:"error"`
		}
		msg := strings.TrimSpace(string(b))
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		if resp.StatusCode == http.StatusUnauthorized {
			msg += " (set --token or PULSE_TOKEN; pulse demo prints its token)"
		}
		return fmt.Errorf("collector %s %s: %s: %s", method, path, resp.Status, msg)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("decode collector answer to %s %s: %w", method, path, err)
		}
	}
	return nil
}

// Discover returns the identities of every node the collector has
// registered that matches spec, down ones included: that is the point, so
// the silent ones can be named. The collector evaluates the filter.
func (c *Client) Discover(spec filter.Spec) ([]string, error) {
	if _, err := filter.Compile(spec); err != nil {
		return nil, err
	}
	var nodes []NodeView
	if err := c.Do("GET", "/api/v1/nodes?"+SpecQuery(spec).Encode(), nil, &nodes); err != nil {
		return nil, err
	}
	var ids []string
	for _, n := range nodes {
		if n.Registered {
			ids = append(ids, n.Identity)
		}
	}
	return ids, nil
}
