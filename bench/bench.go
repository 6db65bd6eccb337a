// Package bench measures pulse at fleet scale on one machine: it starts N
// real node agents (each with its own NATS connection, simulated package
// and service providers and demo facts), a real collector and a real rpc
// client, and times ping fan-out, a facts report, a batched service
// restart, check-result ingest and /metrics, beside a raw nats.go baseline
// measured in the same run.
//
// It is a load generator for a person or a CI job to read, never a test
// oracle: it asserts nothing about time, and it must never be imported by
// the daemons (it starts fleets and child processes at will).
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"time"
)

// AllowedNodes are the fleet sizes pulse bench knows how to run; the
// scaling plot is drawn over them.
var AllowedNodes = []int{100, 1000, 5000, 10000}

// Options configure a benchmark run.
type Options struct {
	// Nodes are the fleet sizes to run, each a fresh fleet.
	Nodes []int
	// Checks is how many checks every agent reports per round (K).
	Checks int
	// Rounds is how many times each fan-out is repeated and how many check
	// intervals ingest runs for.
	Rounds int
	// CheckInterval is the period each agent reports its K checks in
	// (default 10s); the load is N*K/CheckInterval results a second.
	CheckInterval time.Duration
	// NATSURL, when set, is an existing NATS server (with JetStream) to run
	// against; nothing is started.
	NATSURL string
	// EmbeddedMax is the largest fleet run against an in-process broker
	// (default 5000). Each embedded agent costs two file descriptors (its
	// client socket and the server's), and the process may hold 20,000.
	EmbeddedMax int
	// BrokerCommand builds the command that runs a broker in another
	// process listening on addr with JetStream stored in dir, trusting the
	// issuer of the nats-server configuration auth when it is not empty;
	// the pulse CLI passes `pulse broker` through os.Executable. Without
	// it, fleets above EmbeddedMax are refused.
	BrokerCommand func(addr, dir, auth string) *exec.Cmd
	// Security lists how each fleet size runs: "open" (anyone may publish
	// anything, requests unsigned) and "secured" (a broker that trusts only
	// pulse's issuer, every agent, the collector and the client with its
	// own credentials, requests signed and believed from their issuer,
	// replies authenticated by the broker). Default: open.
	Security []string
	// Out receives progress lines; nil discards them.
	Out    io.Writer
	Logger *slog.Logger
}

func (o *Options) defaults() error {
	if len(o.Nodes) == 0 {
		o.Nodes = []int{100}
	}
	for _, n := range o.Nodes {
		if !slices.Contains(AllowedNodes, n) && n > 100 {
			return fmt.Errorf("%w: %d nodes is not one of the sizes %v (sizes up to 100 are allowed for quick runs)", ErrOptions, n, AllowedNodes)
		}
		if n < 1 {
			return fmt.Errorf("%w: fleet size %d: it must be at least 1", ErrOptions, n)
		}
	}
	if len(o.Security) == 0 {
		o.Security = []string{"open"}
	}
	for _, sec := range o.Security {
		if sec != "open" && sec != "secured" {
			return fmt.Errorf("%w: security %q is neither open nor secured", ErrOptions, sec)
		}
		if sec == "secured" && o.NATSURL != "" {
			return fmt.Errorf("%w: a secured run starts its own broker, which trusts the issuer it makes: leave out --nats", ErrOptions)
		}
	}
	if o.Checks < 0 || o.Rounds < 0 {
		return fmt.Errorf("%w: checks (%d) and rounds (%d) must not be negative", ErrOptions, o.Checks, o.Rounds)
	}
	if o.Checks == 0 {
		o.Checks = 10
	}
	if o.Rounds == 0 {
		o.Rounds = 3
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = 10 * time.Second
	}
	if o.EmbeddedMax <= 0 {
		o.EmbeddedMax = 5000
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Report is the outcome of a run: one Size per fleet size.
type Report struct {
	Started time.Time `json:"started"`
	Host    Host      `json:"host"`
	Checks  int       `json:"checks"`
	Rounds  int       `json:"rounds"`
	Sizes   []Size    `json:"sizes"`
}

// Host describes where the run happened, since figures mean nothing
// without it.
type Host struct {
	CPUs     int    `json:"cpus"`
	GoVer    string `json:"go"`
	MaxFiles uint64 `json:"max_files"`
}

// Size is every figure for one fleet size.
type Size struct {
	Nodes int `json:"nodes"`
	// Security is "open" or "secured" (Options.Security).
	Security string `json:"security"`
	// Broker is "embedded", "process" (a `pulse broker` child) or
	// "external" (--nats).
	Broker string `json:"broker"`
	// Setup is how long connecting and starting the fleet took.
	Setup time.Duration `json:"setup_ns"`
	// Raw is the nats.go baseline: one request, N subscribers on their own
	// connections answering on an inbox; time until all N replies arrived.
	Raw Timing `json:"raw"`
	// Ping is rpcutil#ping with registry discovery, as `pulse ping` runs
	// it: time until the last of N replies, and the wall time of the whole
	// call (Timing.Wall), which ends when every registered node answered.
	Ping Timing `json:"ping"`
	// Facts is a get_fact report over every node, as `pulse facts` runs
	// it: one broadcast, the registry read beside it; likewise.
	Facts Timing `json:"facts"`
	// Restart is `service restart nginx` on role=web in batches of 25%.
	Restart Restart `json:"restart"`
	// Ingest is check results flowing into the collector.
	Ingest Ingest `json:"ingest"`
	// Metrics is two scrapes of the collector's /metrics after ingest.
	Metrics Scrape `json:"metrics"`
	Memory  Memory `json:"memory"`
}

// Timing summarises repeated measurements of one operation.
type Timing struct {
	Min     time.Duration `json:"min_ns"`
	Median  time.Duration `json:"median_ns"`
	Max     time.Duration `json:"max_ns"`
	Replies int           `json:"replies"` // fewest replies seen in a round
	// Wall is the median wall time of the whole client call, from the
	// call to its return: what a user waits for (ping and facts only).
	Wall time.Duration `json:"wall_median_ns,omitempty"`
	// CPU is the median CPU time of a round, this process's and the
	// broker's: what the fan-out cost, apart from what else ran.
	CPU time.Duration `json:"cpu_median_ns,omitempty"`
}

// Restart is a batched, filtered service restart.
type Restart struct {
	Targets  int           `json:"targets"`
	OK       int           `json:"ok"`
	Batches  int           `json:"batches"`
	Duration time.Duration `json:"duration_ns"`
}

// Ingest describes results published by agents and applied by the
// collector.
type Ingest struct {
	Published int `json:"published"`
	Applied   int `json:"applied"`
	// Rate is the offered load, results a second.
	Rate float64 `json:"offered_per_second"`
	// Throughput is applied results over the time from the first publish
	// to the last one applied.
	Throughput float64 `json:"applied_per_second"`
	// Drain is how long after the last publish the collector had applied
	// everything.
	Drain time.Duration `json:"drain_ns"`
	// LagMean and LagP99 come from the collector's own
	// pulse_collector_ingest_lag_seconds histogram (result time to
	// ingestion); P99 is the upper bound of its bucket.
	LagMean time.Duration `json:"lag_mean_ns"`
	LagP99  time.Duration `json:"lag_p99_bucket_ns"`
}

// Scrape is one GET /metrics.
type Scrape struct {
	Bytes  int `json:"bytes"`
	Series int `json:"series"`
	// First is the first scrape after ingest, which also builds the index
	// of series the collector keeps until series come or go; Duration is
	// the next one, what Prometheus pays every scrape interval.
	First    time.Duration `json:"first_ns"`
	Duration time.Duration `json:"duration_ns"`
}

// Memory is what the fleet costs.
type Memory struct {
	// ProcessRSS is this process: agents, collector, client, and the broker
	// too when it is embedded.
	ProcessRSS uint64 `json:"process_rss_bytes"`
	// BrokerRSS is the broker child's RSS when it runs in another process.
	BrokerRSS uint64 `json:"broker_rss_bytes,omitempty"`
	// PerConn is heap in use per bare nats.go connection (client side,
	// plus the server side when embedded).
	PerConn uint64 `json:"per_conn_heap_bytes"`
	// PerAgent is heap in use per agent including its connection; PerAgent
	// minus PerConn is what the agent adds beyond its connection.
	PerAgent       uint64 `json:"per_agent_heap_bytes"`
	AgentBeyondCon int64  `json:"agent_beyond_conn_heap_bytes"`
}

// Run measures every fleet size in opts.Nodes in turn.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	rep := &Report{Started: time.Now().UTC(), Host: hostInfo(), Checks: opts.Checks, Rounds: opts.Rounds}
	for _, n := range opts.Nodes {
		for _, sec := range opts.Security {
			if err := ctx.Err(); err != nil {
				return rep, err
			}
			s, err := runSize(ctx, &opts, n, sec == "secured")
			if err != nil {
				what := fmt.Sprintf("%d nodes", n)
				if sec == "secured" {
					what += ", secured"
				}
				return rep, fmt.Errorf("bench with %s: %w", what, err)
			}
			rep.Sizes = append(rep.Sizes, *s)
		}
	}
	return rep, nil
}

// ErrOptions marks options that cannot be run; the CLI exits 2 on it.
var ErrOptions = errors.New("bench: bad options")

// errTooManyFiles explains why a large fleet cannot share a process with
// its broker.
var errTooManyFiles = errors.New("each embedded agent holds two file descriptors (client and server side of its socket), so this fleet needs the broker in another process: run through the pulse CLI (which starts `pulse broker` itself) or pass --nats")
