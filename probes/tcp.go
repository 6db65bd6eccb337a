package probes

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
)

// tcpProbe connects to host:port and, optionally, sends a line and waits
// for a line matching a pattern, like blackbox_exporter's query_response.
type tcpProbe struct {
	target string
	send   string
	expect *regexp.Regexp
}

// maxLines bounds how many lines a tcp probe reads looking for its match,
// so a chatty service cannot keep a probe busy until its timeout.
const maxLines = 100

func runTCP(ctx context.Context, p *Probe) Result {
	var res Result
	tp := p.tcp
	target := expand(tp.target, p.vars)

	start := time.Now()
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", target)
	took := time.Since(start)
	res.Steps = append(res.Steps, protocol.StepResult{Name: "connect", Duration: took.Seconds(), Phases: map[string]float64{"connect": took.Seconds()}})
	if err != nil {
		return fail(res, "connect", fmt.Errorf("connect to %s: %w", target, err))
	}
	defer conn.Close()
	if tp.send == "" && tp.expect == nil {
		return res
	}

	start = time.Now()
	res.Steps = append(res.Steps, protocol.StepResult{Name: "exchange"})
	err = exchange(ctx, conn, expand(tp.send, p.vars), tp.expect)
	took = time.Since(start)
	last := &res.Steps[len(res.Steps)-1]
	last.Duration, last.Phases = took.Seconds(), map[string]float64{"transfer": took.Seconds()}
	if err != nil {
		return fail(res, "exchange", fmt.Errorf("%s: %w", target, err))
	}
	return res
}

func exchange(ctx context.Context, conn net.Conn, send string, expect *regexp.Regexp) error {
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Cancellation without a deadline still has to unblock the read.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if send != "" {
		if _, err := conn.Write([]byte(send)); err != nil {
			return fmt.Errorf("send: %w", err)
		}
	}
	if expect == nil {
		return nil
	}
	sc := bufio.NewScanner(conn)
	last, lines := "", 0
	for lines < maxLines && sc.Scan() {
		lines++
		last = sc.Text()
		if expect.MatchString(last) {
			return nil
		}
	}
	why := "the connection closed"
	switch {
	case ctx.Err() != nil || errors.Is(sc.Err(), os.ErrDeadlineExceeded):
		why = "the probe timed out"
	case sc.Err() != nil:
		why = "a read failed: " + sc.Err().Error()
	case lines == maxLines:
		why = strconv.Itoa(maxLines) + " lines went by"
	}
	return fmt.Errorf("no line matched %q before %s; last line %q", expect.String(), why, last)
}
