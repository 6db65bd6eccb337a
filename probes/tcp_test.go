package probes

import (
	"bufio"
	"context"
	"net"
	"strings"
	"testing"
)

// lineServer answers each line it reads with reply(line); a reply of ""
// closes the connection, and "hang" keeps it open silently until the test
// ends.
func lineServer(t *testing.T, reply func(string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					r := reply(sc.Text())
					switch r {
					case "":
						return
					case "hang":
						<-done
						return
					}
					c.Write([]byte(r))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func pong(line string) string {
	if line == "PING" {
		return "INFO {}\r\nPONG\r\n"
	}
	return "-ERR unknown\r\n"
}

func TestTCPProbe(t *testing.T) {
	addr := lineServer(t, pong)
	hang := lineServer(t, func(string) string { return "hang" })
	closer := lineServer(t, func(string) string { return "" })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	ln.Close()

	tests := []struct {
		name, spec, failed, want string
		steps                    int
	}{
		{name: "connect only", spec: `{name: t, type: tcp, target: "${addr}"}`, steps: 1},
		{name: "ping pong", spec: `{name: t, type: tcp, target: "${addr}", tcp: {send: "PING\n", expect_regex: "^PONG"}}`, steps: 2},
		{
			name: "refused", spec: `{name: t, type: tcp, target: "${refused}"}`, steps: 1, failed: "connect",
			want: "connect: connect to REFUSED: dial tcp REFUSED: connect: connection refused",
		},
		{
			name: "wrong answer", spec: `{name: t, type: tcp, target: "${addr}", tcp: {send: "PONG\n", expect_regex: "^PONG"}}`, steps: 2, failed: "exchange",
			want: `exchange: ADDR: no line matched "^PONG" before the probe timed out; last line "-ERR unknown"`,
		},
		{
			name: "closed", spec: `{name: t, type: tcp, target: "${closer}", tcp: {send: "PING\n", expect_regex: "^PONG"}}`, steps: 2, failed: "exchange",
			want: `exchange: CLOSER: no line matched "^PONG" before the connection closed; last line ""`,
		},
		{
			name: "silent", spec: `{name: t, type: tcp, target: "${hang}", tcp: {send: "PING\n", expect_regex: "^PONG"}}`, steps: 2, failed: "exchange",
			want: `exchange: HANG: no line matched "^PONG" before the probe timed out; last line ""`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			spec := strings.Replace(tt.spec, "{name: t,", "{name: t, timeout: 200ms, vars: {addr: '', refused: '', hang: '', closer: ''},", 1)
			p, err := Parse("tcp.yaml", []byte(spec))
			if err != nil {
				t.Fatal(err)
			}
			p = p.WithVars(map[string]string{"addr": addr, "refused": refused, "hang": hang, "closer": closer})
			res := Run(context.Background(), p)
			got := strings.NewReplacer(refused, "REFUSED", hang, "HANG", closer, "CLOSER", addr, "ADDR").Replace(res.Error)
			if res.Success != (tt.want == "") || got != tt.want || res.FailedStep != tt.failed || len(res.Steps) != tt.steps {
				t.Fatalf("result %+v\n got error: %s\nwant error: %s", res, got, tt.want)
			}
		})
	}
}
