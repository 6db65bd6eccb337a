package bench

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/rpc"
)

// TestRunSmallFleet runs the whole bench on a small embedded fleet, open
// and secured, and checks that every figure was really measured: all
// replies in, every result applied, a /metrics body, memory read.
func checkSize(t *testing.T, s Size) {
	t.Helper()
	checks := []struct {
		name string
		ok   bool
	}{
		{"embedded broker", s.Broker == "embedded"},
		{"raw replies", s.Raw.Replies == 20 && s.Raw.Median > 0},
		{"ping replies", s.Ping.Replies == 20 && s.Ping.Median > 0},
		{"facts replies", s.Facts.Replies == 20 && s.Facts.Median > 0},
		// A wall time covers the whole call, so it holds the last reply.
		{"ping wall", s.Ping.Wall >= s.Ping.Min},
		{"facts wall", s.Facts.Wall >= s.Facts.Min},
		{"facts CPU", s.Facts.CPU > 0},
		// Even hosts are web nodes: 20 over three zones is 7, 7 and 6 hosts, 4+4+3 web.
		{"restart targets role=web", s.Restart.Targets == 11 && s.Restart.OK == 11 && s.Restart.Batches == 4},
		{"ingest complete", s.Ingest.Published == 20*2*2 && s.Ingest.Applied == s.Ingest.Published},
		{"ingest lag read", s.Ingest.LagMean > 0},
		{"metrics scraped twice", s.Metrics.Bytes > 0 && s.Metrics.Series > 20*2 && s.Metrics.First > 0 && s.Metrics.Duration > 0},
		{"rss read", s.Memory.ProcessRSS > 0},
		{"heap per agent", s.Memory.PerAgent > 0 && s.Memory.PerConn > 0},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s, %s: not measured: %+v", s.Security, c.name, s)
		}
	}
}

func TestRunSmallFleet(t *testing.T) {
	var progress bytes.Buffer
	rep, err := Run(context.Background(), Options{Nodes: []int{20}, Checks: 2, Rounds: 2, CheckInterval: 300 * time.Millisecond, Out: &progress,
		Security: []string{"open", "secured"}})
	if err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	if len(rep.Sizes) != 2 || rep.Sizes[0].Security != "open" || rep.Sizes[1].Security != "secured" {
		t.Fatalf("got %d sizes, want 20 nodes open and secured: %+v", len(rep.Sizes), rep.Sizes)
	}
	for _, s := range rep.Sizes {
		checkSize(t, s)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{"ping / raw", "ping wall / its last reply", "facts wall / raw", "ingest applied / published", "/metrics series", "agent beyond its connection"} {
		if !strings.Contains(table.String(), row) {
			t.Errorf("table lacks row %q:\n%s", row, table.String())
		}
	}
}

func TestOptionErrors(t *testing.T) {
	cases := []struct {
		opts Options
		want string
	}{
		{Options{Nodes: []int{2000}}, "bench: bad options: 2000 nodes is not one of the sizes [100 1000 5000 10000] (sizes up to 100 are allowed for quick runs)"},
		{Options{Nodes: []int{0}}, "bench: bad options: fleet size 0: it must be at least 1"},
		{Options{Nodes: []int{10}, Checks: -1}, "bench: bad options: checks (-1) and rounds (0) must not be negative"},
		{Options{Nodes: []int{6}, EmbeddedMax: 5}, "bench with 6 nodes: 6 nodes is more than the 5 an embedded broker allows: each embedded agent holds two file descriptors (client and server side of its socket), so this fleet needs the broker in another process: run through the pulse CLI (which starts `pulse broker` itself) or pass --nats"},
	}
	for _, c := range cases {
		_, err := Run(context.Background(), c.opts)
		if err == nil || err.Error() != c.want {
			t.Errorf("Run(%+v) error:\n got %v\nwant %s", c.opts, err, c.want)
		}
	}
}

// TestPlotDrawsEverySeries decodes the PNG and looks for each series'
// colour at its points.
func TestPlotDrawsEverySeries(t *testing.T) {
	rep := &Report{Sizes: []Size{
		{Nodes: 100, Raw: Timing{Median: 5 * time.Millisecond}, Ping: Timing{Median: 10 * time.Millisecond}, Facts: Timing{Median: 300 * time.Millisecond}, Metrics: Scrape{Duration: 20 * time.Millisecond}},
		{Nodes: 10000, Raw: Timing{Median: 700 * time.Millisecond}, Ping: Timing{Median: 900 * time.Millisecond}, Facts: Timing{Median: 1400 * time.Millisecond}, Metrics: Scrape{Duration: 600 * time.Millisecond}},
	}}
	var buf bytes.Buffer
	if err := rep.WritePNG(&buf); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(&buf)
	if err != nil {
		t.Fatalf("the plot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 900 || b.Dy() != 560 {
		t.Fatalf("plot is %v, want 900x560", b)
	}
	colours := map[[3]uint32]int{}
	for y := 0; y < 560; y++ {
		for x := 0; x < 900; x++ {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, b >> 8}]++
		}
	}
	for name, c := range map[string][3]uint32{"raw": {120, 120, 120}, "ping": {31, 119, 180}, "facts": {255, 127, 14}, "metrics": {44, 160, 44}} {
		if colours[c] < 200 {
			t.Errorf("series %s: %d pixels of its colour, want a line", name, colours[c])
		}
	}
	if err := (&Report{}).WritePNG(&buf); err == nil {
		t.Errorf("an empty report plotted without error")
	}
}

func TestRSSOfThisProcess(t *testing.T) {
	v, err := rss(os.Getpid())
	if err != nil || v < 1<<20 {
		t.Fatalf("rss = %d, %v; want at least 1 MiB", v, err)
	}
	if _, err := rss(-1); err == nil {
		t.Fatalf("rss of pid -1 did not fail")
	}
}

// BenchmarkPingFanout is one rpcutil#ping to 200 in-process agents, until
// the last reply; BenchmarkRawFanout is the same fan-out with bare nats.go
// subscribers. Profile the difference with -cpuprofile.
func BenchmarkPingFanout(b *testing.B) {
	benchFanout(b, rpc.Call{Agent: "rpcutil", Action: "ping"})
}

// BenchmarkFactsFanout is BenchmarkPingFanout for a facts report
// (rpcutil#get_fact): what the facts report costs beyond a ping.
func BenchmarkFactsFanout(b *testing.B) {
	benchFanout(b, rpc.Call{Agent: "rpcutil", Action: "get_fact", Data: map[string]string{"fact": "ec2_placement_availability_zone"}})
}

// benchFanout sends call to fanoutNodes in-process agents b.N times, each
// time until the last reply.
func benchFanout(b *testing.B, call rpc.Call) {
	n := fanoutNodes(b)
	br := brokertest.Start(b)
	fl, err := startFleet(context.Background(), br.ClientURL(), n, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer fl.stop()
	nc, err := nats.Connect(br.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	cl := rpc.New(nc, rpc.Options{})
	call.DiscoveryTimeout, call.Quiet = 15*time.Second, 2*time.Second
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := cl.Do(context.Background(), call)
		if err != nil || len(res.Replies) != n {
			b.Fatalf("%s#%s: %d replies, %v", call.Agent, call.Action, len(res.Replies), err)
		}
		b.ReportMetric(float64(lastReply(res).Microseconds()), "µs-last-reply")
	}
}

func BenchmarkRawFanout(b *testing.B) {
	n := fanoutNodes(b)
	br := brokertest.Start(b)
	raw, err := startRaw(br.ClientURL(), n, "")
	if err != nil {
		b.Fatal(err)
	}
	defer raw.stop()
	nc, err := nats.Connect(br.ClientURL())
	if err != nil {
		b.Fatal(err)
	}
	defer nc.Close()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		d, got, err := raw.request(nc, n, 5*time.Second)
		if err != nil || got != n {
			b.Fatalf("raw: %d replies, %v", got, err)
		}
		b.ReportMetric(float64(d.Microseconds()), "µs-last-reply")
	}
}

// fanoutNodes is 200 unless PULSE_BENCH_FANOUT_NODES says otherwise.
func fanoutNodes(b *testing.B) int {
	v := os.Getenv("PULSE_BENCH_FANOUT_NODES")
	if v == "" {
		return 200
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		b.Fatalf("PULSE_BENCH_FANOUT_NODES=%q is not a positive number", v)
	}
	return n
}
