package nodeagent

import (
	"context"
	"maps"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/pulseops/pulse/internal/protocol"
)

// Job is a scheduled check or probe.
type Job struct {
	Name string
	// Kind is "check" or "probe".
	Kind     string
	Interval time.Duration
	Timeout  time.Duration
	// Splay is the most the first run is delayed by, chosen at random, so a
	// fleet started together does not run its checks in lockstep.
	Splay time.Duration
	Run   func(ctx context.Context) Outcome
}

// Outcome is what one run of a job found.
type Outcome struct {
	Status     int
	Output     string
	LongOutput string
	Perfdata   []protocol.Perf
	Steps      []protocol.StepResult
	Duration   time.Duration
}

// schedule runs j every Interval, and at once when st is kicked, and
// publishes each result with the job's cumulative counters.
func (a *Agent) schedule(ctx context.Context, j Job, st *jobState) {
	defer a.wg.Done()
	if j.Interval <= 0 {
		j.Interval = time.Minute
	}
	if j.Timeout <= 0 || j.Timeout > j.Interval {
		j.Timeout = min(j.Interval, 60*time.Second)
	}
	var delay time.Duration
	if j.Splay > 0 {
		delay = time.Duration(rand.Int64N(int64(j.Splay)))
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	runs := map[string]uint64{}
	var probeRuns, probeFailures uint64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-st.kick:
			// Since Go 1.23 a stopped timer delivers nothing stale, so the
			// Reset below starts a whole interval.
			t.Stop()
		}
		start := a.opts.Now()
		rctx, cancel := context.WithTimeout(ctx, j.Timeout)
		out := j.Run(rctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		name := protocol.StateName(out.Status)
		runs[name]++
		res := protocol.Result{
			Identity: a.opts.Identity,
			ResultBody: protocol.ResultBody{
				Kind: j.Kind, Name: j.Name, Status: out.Status, Output: out.Output, LongOutput: out.LongOutput,
				Perfdata: out.Perfdata, Steps: out.Steps, Duration: out.Duration.Seconds(),
				Interval: j.Interval.Seconds(), Started: a.started.UTC(),
			},
			Time: start.UTC(),
		}
		if j.Kind == "probe" {
			probeRuns++
			if out.Status != protocol.StateOK {
				probeFailures++
			}
			res.ProbeRuns, res.ProbeFailures = probeRuns, probeFailures
		} else {
			res.Runs = maps.Clone(runs)
		}
		a.publishResult(&res)
		st.record(JobResult{Name: j.Name, Kind: j.Kind, Status: out.Status, State: name, Output: out.Output, Time: res.Time})
		t.Reset(j.Interval)
	}
}

func (a *Agent) publishResult(res *protocol.Result) {
	res.Stream = a.stream()
	b, err := protocol.EncodeResult(res, a.opts.Signer)
	if err != nil {
		a.log.Error("encode result", "check", res.Name, "err", err)
		return
	}
	a.outbox.add(outgoing{subject: a.subj.Results(a.opts.Identity, res.Name), data: b, id: res.Stream.Boot + "-" + strconv.FormatUint(res.Stream.Seq, 10)})
}
