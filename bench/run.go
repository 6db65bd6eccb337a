package bench

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pulseops/pulse/collector"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/rpc"
)

// runSize measures one fleet size from a fresh broker up; secured, every
// process logs in with credentials from a fresh issuer.
func runSize(ctx context.Context, opts *Options, n int, secured bool) (*Size, error) {
	dir, err := os.MkdirTemp("", "pulse-bench-")
	if err != nil {
		return nil, fmt.Errorf("make a JetStream directory: %w", err)
	}
	defer os.RemoveAll(dir)
	var sec *security
	if secured {
		if sec, err = newSecurity(filepath.Join(dir, "identity"), n); err != nil {
			return nil, err
		}
	}
	srv, err := startBroker(opts, n, filepath.Join(dir, "jetstream"), sec.serverConfig())
	if err != nil {
		return nil, err
	}
	defer srv.stop()
	s := &Size{Nodes: n, Broker: srv.kind, Security: "open"}
	if secured {
		s.Security = "secured"
	}
	out := opts.Out
	fmt.Fprintf(out, "== %d nodes, %s broker %s (%s)\n", n, s.Security, srv.kind, srv.url)

	client, err := bus.Dial(bus.Config{URLs: []string{srv.url}, Name: "pulse-bench-client", Credentials: sec.login(sec.userCreds())})
	if err != nil {
		return nil, fmt.Errorf("connect the bench client to %s: %w", srv.url, err)
	}
	defer client.Close()

	// The raw baseline goes first, alone, so its connections are gone
	// before the agents need the file descriptors. Secured, it logs in as
	// the account's administrator: nats.go answering an inbox with no
	// permission checks, what pulse is measured against.
	rawClient, err := bus.Dial(bus.Config{URLs: []string{srv.url}, Name: "pulse-bench-raw-client", Credentials: sec.login(sec.adminCreds())})
	if err != nil {
		return nil, fmt.Errorf("connect the raw baseline's client to %s: %w", srv.url, err)
	}
	defer rawClient.Close()
	h0 := heapInuse()
	raw, err := startRaw(srv.url, n, sec.adminCreds())
	if err != nil {
		return nil, err
	}
	s.Memory.PerConn = perEach(heapInuse(), h0, n)
	var rawRounds, rawCPU []time.Duration
	s.Raw.Replies = n
	// Round -1 warms up, untimed, as before pulse's rounds below.
	for r := -1; r < opts.Rounds; r++ {
		runtime.GC() // as before every timed round of pulse below
		c0 := cpuUsed(srv.pid)
		d, got, err := raw.request(rawClient, n, 10*time.Second)
		if err != nil {
			raw.stop()
			return nil, err
		}
		if r < 0 {
			continue
		}
		rawRounds = append(rawRounds, d)
		rawCPU = append(rawCPU, cpuUsed(srv.pid)-c0)
		s.Raw.Replies = min(s.Raw.Replies, got)
	}
	s.Raw.fill(rawRounds)
	s.Raw.CPU = median(rawCPU)
	raw.stop()
	fmt.Fprintf(out, "raw nats.go baseline: median %v over %d rounds, %d/%d replies\n", s.Raw.Median, opts.Rounds, s.Raw.Replies, n)

	// The collector starts first, as in a fleet that already runs one: it
	// hears every agent's start-up registration, so no node appears
	// later, when the agent's next heartbeat comes, and changes the set of
	// series between the scrapes measured below.
	colConn, err := bus.Connect(bus.Config{URLs: []string{srv.url}, Name: "pulse-bench-collector", Credentials: sec.login(sec.collectorCreds())}, opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("connect the collector to %s: %w", srv.url, err)
	}
	defer colConn.Close()
	col, err := collector.New(collector.Options{Conn: colConn, Collective: "pulse", Logger: opts.Logger})
	if err != nil {
		return nil, err
	}
	if err := col.Start(ctx); err != nil {
		return nil, fmt.Errorf("start the collector: %w", err)
	}
	defer col.Stop()

	h1 := heapInuse()
	start := time.Now()
	fl, err := startFleet(ctx, srv.url, n, sec, opts.Logger)
	if err != nil {
		return nil, err
	}
	defer fl.stop()
	s.Setup = time.Since(start)
	// This includes what the collector keeps of each node's registration.
	s.Memory.PerAgent = perEach(heapInuse(), h1, n)
	s.Memory.AgentBeyondCon = int64(s.Memory.PerAgent) - int64(s.Memory.PerConn)
	fmt.Fprintf(out, "started %d agents in %v\n", n, s.Setup.Round(time.Millisecond))

	co := rpc.Options{Caller: "user=bench", Logger: opts.Logger}
	if sec != nil {
		co.Caller, co.Signer, co.JWT = "user="+sec.user.Name, sec.user.Signer, sec.user.JWT
	}
	cl := rpc.New(client, co)
	if err := measureFanout(ctx, cl, opts, s, srv.pid); err != nil {
		return nil, err
	}
	if err := measureIngest(ctx, opts, fl, col, s); err != nil {
		return nil, err
	}
	if err := measureScrape(col, s); err != nil {
		return nil, err
	}
	s.Memory.ProcessRSS, _ = rss(os.Getpid())
	if srv.pid != 0 {
		s.Memory.BrokerRSS, _ = rss(srv.pid)
	}
	fmt.Fprintf(out, "memory: process RSS %s, broker RSS %s, heap per connection %s, per agent %s (beyond its connection %s)\n",
		mib(s.Memory.ProcessRSS), mib(s.Memory.BrokerRSS), kib(s.Memory.PerConn), kib(s.Memory.PerAgent), kibSigned(s.Memory.AgentBeyondCon))
	return s, nil
}

// measureFanout times ping, a facts report and a batched restart, and the
// CPU time of each ping round (brokerPID is the broker's process, 0 when
// embedded).
func measureFanout(ctx context.Context, cl *rpc.Client, opts *Options, s *Size, brokerPID int) error {
	n := s.Nodes
	var pings, pingCPU, facts, factsCPU, pingWall, factsWall []time.Duration
	s.Ping.Replies, s.Facts.Replies = n, n
	// Round -1 warms up, untimed, as testing.B runs a benchmark once
	// before timing it: the first request after the fleet started finds
	// every agent's buffers and stacks still to be grown.
	for r := -1; r < opts.Rounds; r++ {
		// The agents share one heap here, 1-2 GB at 10,000 of them, where a
		// collection that starts mid-round marks all of it; a real agent's
		// heap is a few MB. Each timed round starts after a collection, as
		// testing.B starts each benchmark, so a round does not pay for the
		// previous round's garbage.
		runtime.GC()
		// Registry discovery, as the CLI does by default: the call ends
		// when every registered node answered. Were it to fall back to
		// broadcast, a 1 s quiet window would end it (this machine's two
		// cores make replies come in bursts), and the round is refused.
		c0 := cpuUsed(brokerPID)
		begin := time.Now()
		res, err := cl.Do(ctx, rpc.Call{Agent: "rpcutil", Action: "ping", Discovery: rpc.DiscoverRegistry,
			Timeout: 15 * time.Second, DiscoveryTimeout: 15 * time.Second, Quiet: time.Second})
		wall := time.Since(begin)
		if err != nil {
			return fmt.Errorf("ping: %w", err)
		}
		if res.Discovery != "registry" {
			return fmt.Errorf("ping: registry discovery fell back to %s: %s", res.Discovery, res.Fallback)
		}
		if r >= 0 {
			pingCPU = append(pingCPU, cpuUsed(brokerPID)-c0)
			pings = append(pings, lastReply(res))
			pingWall = append(pingWall, wall)
			s.Ping.Replies = min(s.Ping.Replies, len(res.Replies))
		}
		runtime.GC() // likewise before the facts round

		c0 = cpuUsed(brokerPID)
		begin = time.Now()
		res, err = cl.Do(ctx, rpc.Call{
			Agent: "rpcutil", Action: "get_fact", Data: map[string]string{"fact": "ec2_placement_availability_zone"}, Discovery: rpc.DiscoverRegistry,
			DiscoveryTimeout: 15 * time.Second, Timeout: 15 * time.Second, Quiet: time.Second,
		})
		wall = time.Since(begin)
		if err != nil {
			return fmt.Errorf("facts report: %w", err)
		}
		if res.Discovery != "registry" {
			return fmt.Errorf("facts report: registry discovery fell back to %s: %s", res.Discovery, res.Fallback)
		}
		if r >= 0 {
			factsCPU = append(factsCPU, cpuUsed(brokerPID)-c0)
			facts = append(facts, lastReply(res))
			factsWall = append(factsWall, wall)
			s.Facts.Replies = min(s.Facts.Replies, len(res.Replies))
		}
	}
	s.Ping.fill(pings)
	s.Ping.CPU = median(pingCPU)
	s.Ping.Wall = median(pingWall)
	s.Facts.fill(facts)
	s.Facts.Wall = median(factsWall)
	s.Facts.CPU = median(factsCPU)
	fmt.Fprintf(opts.Out, "ping: last reply median %v (%.2fx raw), wall %v (%.2fx its last reply, %.2fx raw), CPU %v a round (%.2fx raw), %d/%d replies\n",
		s.Ping.Median, ratio(s.Ping.Median, s.Raw.Median), s.Ping.Wall, ratio(s.Ping.Wall, s.Ping.Median), ratio(s.Ping.Wall, s.Raw.Median),
		s.Ping.CPU, ratio(s.Ping.CPU, s.Raw.CPU), s.Ping.Replies, n)
	fmt.Fprintf(opts.Out, "facts report: last reply median %v, wall %v (%.2fx its last reply, %.2fx raw), CPU %v a round (%.2fx raw), %d/%d replies\n",
		s.Facts.Median, s.Facts.Wall, ratio(s.Facts.Wall, s.Facts.Median), ratio(s.Facts.Wall, s.Raw.Median), s.Facts.CPU, ratio(s.Facts.CPU, s.Raw.CPU), s.Facts.Replies, n)

	batches := 0
	res, err := cl.Do(ctx, rpc.Call{
		Agent: "service", Action: "restart", Data: map[string]string{"service": "nginx"}, Discovery: rpc.DiscoverRegistry,
		Filter: filter.Spec{Fact: []string{"role=web"}}, Batch: rpc.Percent(25),
		DiscoveryTimeout: 15 * time.Second, Timeout: 15 * time.Second,
		Progress: func(rpc.Progress) { batches++ },
	})
	if err != nil {
		return fmt.Errorf("service restart: %w", err)
	}
	s.Restart = Restart{Targets: len(res.Targets), OK: len(res.Replies) - res.Failed(), Batches: batches, Duration: res.Duration}
	fmt.Fprintf(opts.Out, "service restart nginx on role=web in batches of 25%%: %d/%d OK in %d batches, %v\n",
		s.Restart.OK, s.Restart.Targets, batches, s.Restart.Duration)
	return nil
}

// lastReply is when the last reply of a broadcast arrived: the fan-out time
// without the quiet period the client waits for stragglers.
func lastReply(res *rpc.Result) time.Duration {
	var d time.Duration
	for _, r := range res.Replies {
		d = max(d, r.RTT)
	}
	return d
}

// measureIngest offers N*K results every CheckInterval for Rounds
// intervals, each agent publishing on its own connection at its own offset
// in the interval (as the scheduler's splay spreads them), then waits for the
// collector to have applied them all.
//
// The bench publishes in the scheduler's wire form itself rather than
// through nodeagent jobs, because a job cannot be paused: the fleet's checks
// would otherwise load the broker while ping and facts are timed.
func measureIngest(ctx context.Context, opts *Options, fl *fleet, col *collector.Collector, s *Size) error {
	n, k, rounds, iv := len(fl.agents), opts.Checks, opts.Rounds, opts.CheckInterval
	subj := protocol.Subjects{Collective: "pulse"}
	started := time.Now().UTC()
	names := make([]string, k)
	for i := range names {
		names[i] = fmt.Sprintf("check_bench_%02d", i)
	}
	var (
		wg        sync.WaitGroup
		mu        sync.Mutex
		published int
		pubErr    error
	)
	begin := time.Now()
	workers := min(8, n)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			count := 0
			defer func() { mu.Lock(); published += count; mu.Unlock() }()
			for r := 0; r < rounds; r++ {
				for i := w; i < n; i += workers {
					at := begin.Add(time.Duration(r)*iv + time.Duration(int64(iv)*int64(i)/int64(n)))
					if d := time.Until(at); d > 0 {
						select {
						case <-ctx.Done():
							return
						case <-time.After(d): // pacing the offered load, not waiting for state
						}
					}
					a := fl.agents[i]
					for j, name := range names {
						b, err := protocol.EncodeResult(&protocol.Result{
							Identity: a.id, Time: time.Now().UTC(), Stream: protocol.Stream{Boot: "bench", Seq: uint64(r*len(names) + j + 1)},
							ResultBody: protocol.ResultBody{Kind: "check", Name: name, Status: protocol.StateOK,
								Output: "OK - simulated check", Duration: 0.001,
								Interval: iv.Seconds(), Started: started, Runs: map[string]uint64{"OK": uint64(r + 1)}},
						}, nil)
						if err == nil {
							err = a.nc.Publish(subj.Results(a.id, name), b)
						}
						if err != nil {
							mu.Lock()
							pubErr = fmt.Errorf("publish result of %s from %s: %w", name, a.id, err)
							mu.Unlock()
							return
						}
						count++
					}
				}
			}
		}()
	}
	wg.Wait()
	if pubErr != nil {
		return pubErr
	}
	lastPub := time.Now()
	s.Ingest.Published = published
	s.Ingest.Rate = float64(n*k) / iv.Seconds()
	want := uint64(rounds)
	deadline := time.Now().Add(60 * time.Second)
	for {
		applied := 0
		for _, a := range fl.agents {
			v, ok := col.Node(a.id)
			if !ok {
				continue
			}
			for _, c := range v.Checks {
				if strings.HasPrefix(c.Name, "check_bench_") {
					applied += int(c.Runs["OK"])
				}
			}
		}
		s.Ingest.Applied = applied
		if uint64(applied) >= want*uint64(n*k) || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(20 * time.Millisecond) // polling the collector's state, with the deadline above
	}
	s.Ingest.Drain = time.Since(lastPub)
	s.Ingest.Throughput = float64(s.Ingest.Applied) / time.Since(begin).Seconds()
	s.Ingest.LagMean, s.Ingest.LagP99 = lagFromHistogram(col)
	fmt.Fprintf(opts.Out, "ingest: %d nodes x %d checks every %v (%.0f/s offered): %d/%d applied, drained %v after the last publish, lag mean %v, p99 <= %v\n",
		n, k, iv, s.Ingest.Rate, s.Ingest.Applied, s.Ingest.Published, s.Ingest.Drain.Round(time.Millisecond), s.Ingest.LagMean.Round(time.Microsecond), s.Ingest.LagP99)
	return nil
}

// lagFromHistogram reads the collector's ingest lag histogram: its mean and
// the upper bound of the bucket holding the 99th percentile.
func lagFromHistogram(col *collector.Collector) (mean, p99 time.Duration) {
	// The registry alone: its Gather without the fleet's series, whose
	// index the first scrape below is to build.
	mfs, err := col.Registry().Registry.Gather()
	if err != nil {
		return 0, 0
	}
	for _, mf := range mfs {
		if mf.GetName() != "pulse_collector_ingest_lag_seconds" || len(mf.GetMetric()) == 0 {
			continue
		}
		h := mf.GetMetric()[0].GetHistogram()
		cnt := h.GetSampleCount()
		if cnt == 0 {
			return 0, 0
		}
		mean = time.Duration(h.GetSampleSum() / float64(cnt) * float64(time.Second))
		for _, b := range h.GetBucket() {
			if float64(b.GetCumulativeCount()) >= 0.99*float64(cnt) {
				return mean, time.Duration(b.GetUpperBound() * float64(time.Second))
			}
		}
		return mean, -1 // beyond the last bucket
	}
	return 0, 0
}

// measureScrape fetches /metrics twice over real HTTP on loopback, as
// Prometheus does: asking for gzip and timing the transfer of the body. The
// series are counted afterwards, outside the timing, so the bench's own
// decompression and parsing (Prometheus' work, in another process) are not
// charged to the collector.
func measureScrape(col *collector.Collector, s *Size) error {
	srv := httptest.NewServer(col.Handler())
	defer srv.Close()
	var wire []byte
	for i, d := range []*time.Duration{&s.Metrics.First, &s.Metrics.Duration} {
		runtime.GC() // as before the fan-out rounds: a scrape does not pay for earlier garbage
		var err error
		if *d, wire, err = scrape(srv.URL + "/metrics"); err != nil {
			return fmt.Errorf("scrape %d: %w", i+1, err)
		}
	}
	body, err := gzip.NewReader(bytes.NewReader(wire))
	if err != nil {
		return fmt.Errorf("/metrics gzip: %w", err)
	}
	sc := bufio.NewScanner(body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		s.Metrics.Bytes += len(line) + 1
		if len(line) > 0 && line[0] != '#' {
			s.Metrics.Series++
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read /metrics: %w", err)
	}
	return nil
}

// scrape GETs url asking for gzip and returns how long the whole body took
// and the body, still compressed.
func scrape(url string) (time.Duration, []byte, error) {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Accept-Encoding", "gzip")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("scrape the collector's /metrics: %w", err)
	}
	wire, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	d := time.Since(start)
	if err != nil {
		return 0, nil, fmt.Errorf("read /metrics: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, nil, fmt.Errorf("/metrics answered %s", resp.Status)
	}
	if resp.Header.Get("Content-Encoding") != "gzip" {
		return 0, nil, fmt.Errorf("/metrics answered without gzip (Content-Encoding %q)", resp.Header.Get("Content-Encoding"))
	}
	return d, wire, nil
}

func (t *Timing) fill(d []time.Duration) {
	if len(d) == 0 {
		return
	}
	d = slices.Clone(d)
	slices.Sort(d)
	t.Min, t.Median, t.Max = d[0], d[len(d)/2], d[len(d)-1]
}

func median(d []time.Duration) time.Duration {
	var t Timing
	t.fill(d)
	return t.Median
}

func ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// heapInuse is the live heap after a full collection, so deltas measure
// what is held rather than garbage.
func heapInuse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

func perEach(after, before uint64, n int) uint64 {
	if after <= before || n == 0 {
		return 0
	}
	return (after - before) / uint64(n)
}

func hostInfo() Host {
	return Host{CPUs: runtime.NumCPU(), GoVer: runtime.Version(), MaxFiles: maxFiles()}
}
