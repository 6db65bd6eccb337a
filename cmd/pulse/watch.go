//go:build !agentonly

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	"github.com/spf13/cobra"

	"github.com/pulseops/pulse/internal/config"
	"github.com/pulseops/pulse/internal/protocol"
)

// watchFlags are the flags of pulse watch.
type watchFlags struct {
	collector string
	token     string
	json      bool
	recent    int
	filterFlags
}

func newWatchCmd() *cobra.Command {
	f := &watchFlags{}
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Print the collector's events as they happen: check state changes, nodes up and down, actions, remediations, changes, rollouts",
		Long: "watch follows the collector's event stream (GET /api/v1/events, a websocket) and prints one line per event.\n" +
			"Filters narrow node events to matching nodes, as in every client command. It reconnects by itself until Ctrl-C.",
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			if err := config.Resolve(c.Flags(), "PULSE", nil); err != nil {
				return usageError{err}
			}
			u, err := f.url()
			if err != nil {
				return err
			}
			return watch(c.Context(), u, tokenOrDemo(f.token), f.json, c.OutOrStdout(), c.ErrOrStderr())
		},
	}
	fs := cmd.Flags()
	fs.StringVar(&f.collector, "collector", "http://127.0.0.1:9780", "collector base URL (env PULSE_COLLECTOR)")
	fs.StringVar(&f.token, "token", "", "the collector's action token, when it has one (env PULSE_TOKEN)")
	fs.BoolVar(&f.json, "json", false, "print each event as a JSON line")
	fs.IntVar(&f.recent, "recent", 0, "first print up to this many of the events the collector saw last")
	addFilterFlags(cmd, &f.filterFlags)
	return cmd
}

// url checks the filters here, so a typo exits 2 with the column, and
// builds the websocket URL the collector parses them from again.
func (f *watchFlags) url() (string, error) {
	if _, err := f.spec(); err != nil {
		return "", err
	}
	u, err := url.Parse(f.collector)
	if err != nil || u.Host == "" {
		return "", usage("--collector %q is not a URL such as http://127.0.0.1:9780", f.collector)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", usage("--collector %q: use an http:// or https:// URL", f.collector)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/api/v1/events"
	q := url.Values{}
	for k, vs := range map[string][]string{"filter": f.with, "fact": f.facts, "identity": f.identities, "class": f.classes, "agent": f.agents} {
		for _, v := range vs {
			q.Add(k, v)
		}
	}
	if f.sel != "" {
		q.Set("select", f.sel)
	}
	if f.recent < 0 {
		return "", usage("--recent %d: give a count of past events, such as --recent 20", f.recent)
	}
	if f.recent > 0 {
		q.Set("recent", fmt.Sprint(f.recent))
	}
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// watch follows the stream until ctx ends, reconnecting with backoff. A
// refusal (bad token, origin or filter) is final: retrying cannot fix it.
func watch(ctx context.Context, wsURL, token string, asJSON bool, out, errw io.Writer) error {
	hdr := http.Header{}
	if token != "" {
		hdr.Set("Authorization", "Bearer "+token)
	}
	dialer := websocket.Dialer{HandshakeTimeout: 10 * time.Second, Proxy: http.ProxyFromEnvironment}
	backoff := time.Second
	for {
		conn, resp, err := dialer.DialContext(ctx, wsURL, hdr)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if resp != nil && resp.StatusCode >= 400 && resp.StatusCode < 500 {
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				msg := strings.TrimSpace(string(body))
				if resp.StatusCode == http.StatusBadRequest {
					return usage("collector refused the filter: %s", msg)
				}
				return fmt.Errorf("collector refused %s (%s): %s; pass --token or set PULSE_TOKEN to the collector's action token", redact(wsURL), resp.Status, msg)
			}
			fmt.Fprintf(errw, "pulse watch: cannot reach %s: %v; retrying in %s\n", redact(wsURL), err, backoff)
		} else {
			backoff = time.Second
			err = follow(ctx, conn, asJSON, out)
			if ctx.Err() != nil {
				return nil
			}
			fmt.Fprintf(errw, "pulse watch: event stream ended: %v; reconnecting in %s\n", err, backoff)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// follow prints events from one connection until it fails or ctx ends.
func follow(ctx context.Context, conn *websocket.Conn, asJSON bool, out io.Writer) error {
	stop := context.AfterFunc(ctx, func() {
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		_ = conn.Close()
	})
	defer stop()
	defer conn.Close()
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			var ce *websocket.CloseError
			if errors.As(err, &ce) && ce.Text != "" {
				return fmt.Errorf("collector closed the stream: %s", ce.Text)
			}
			return err
		}
		if asJSON {
			if _, err := fmt.Fprintf(out, "%s\n", msg); err != nil {
				return err
			}
			continue
		}
		var e protocol.Event
		if err := protocol.Decode(msg, &e); err != nil {
			fmt.Fprintf(out, "(undecodable event: %v)\n", err)
			continue
		}
		if _, err := fmt.Fprintln(out, formatEvent(e)); err != nil {
			return err
		}
	}
}

// formatEvent is one human line: time, node, and what happened.
func formatEvent(e protocol.Event) string {
	ts := e.Time.Local().Format("15:04:05")
	switch e.Type {
	case protocol.EventCheckState:
		prev, cur := protocol.StateName(e.Previous), protocol.StateName(e.Status)
		// The collector's message repeats what the fields say before the
		// check's output; print the output alone.
		output := e.Message
		if rest, ok := strings.CutPrefix(output, fmt.Sprintf("%s on %s changed from %s to %s: ", e.Check, e.Identity, prev, cur)); ok {
			output = rest
		}
		return fmt.Sprintf("%s %s %s %s → %s  %s", ts, e.Identity, e.Check, prev, cur, output)
	case protocol.EventNodeUp, protocol.EventNodeDown:
		return fmt.Sprintf("%s %s %s  %s", ts, e.Identity, e.Type, e.Message)
	default:
		if e.Identity != "" {
			return fmt.Sprintf("%s %s %s  %s", ts, e.Identity, e.Type, e.Message)
		}
		return fmt.Sprintf("%s %s  %s", ts, e.Type, e.Message)
	}
}

// redact drops the query from a URL for messages: it is long and says
// nothing about why a connection failed.
func redact(u string) string {
	if i := strings.IndexByte(u, '?'); i >= 0 {
		return u[:i]
	}
	return u
}
