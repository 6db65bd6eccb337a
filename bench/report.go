package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// rss reads a process's resident set size from /proc.
func rss(pid int) (uint64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, fmt.Errorf("%w: %v", errNoProc, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("parse VmRSS %q of pid %d: %w", v, pid, err)
			}
			return kb * 1024, nil
		}
	}
	return 0, fmt.Errorf("%w: no VmRSS line for pid %d", errNoProc, pid)
}

func mib(b uint64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20))
}

func kib(b uint64) string { return fmt.Sprintf("%.1f KiB", float64(b)/1024) }

func kibSigned(b int64) string { return fmt.Sprintf("%.1f KiB", float64(b)/1024) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }

// WriteTable prints the report as an aligned table, one column per fleet
// size.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	row := func(name string, f func(s *Size) string) {
		fmt.Fprintf(tw, "%s\t", name)
		for i := range r.Sizes {
			fmt.Fprintf(tw, "%s\t", f(&r.Sizes[i]))
		}
		fmt.Fprintln(tw)
	}
	row("nodes", func(s *Size) string { return strconv.Itoa(s.Nodes) })
	row("security", func(s *Size) string { return s.Security })
	row("broker", func(s *Size) string { return s.Broker })
	row("fleet start (ms)", func(s *Size) string { return ms(s.Setup) })
	row("raw nats.go fan-out, median (ms)", func(s *Size) string { return ms(s.Raw.Median) })
	row("ping, last reply, median (ms)", func(s *Size) string { return ms(s.Ping.Median) })
	row("ping / raw", func(s *Size) string { return fmt.Sprintf("%.2fx", ratio(s.Ping.Median, s.Raw.Median)) })
	row("ping, wall of the call, median (ms)", func(s *Size) string { return ms(s.Ping.Wall) })
	row("ping wall / its last reply", func(s *Size) string { return fmt.Sprintf("%.2fx", ratio(s.Ping.Wall, s.Ping.Median)) })
	row("ping wall / raw", func(s *Size) string { return fmt.Sprintf("%.2fx", ratio(s.Ping.Wall, s.Raw.Median)) })
	row("raw CPU a round, median (ms)", func(s *Size) string { return ms(s.Raw.CPU) })
	row("ping CPU a round, median (ms)", func(s *Size) string { return ms(s.Ping.CPU) })
	row("ping / raw, CPU", func(s *Size) string { return fmt.Sprintf("%.2fx", ratio(s.Ping.CPU, s.Raw.CPU)) })
	row("ping replies (fewest)", func(s *Size) string { return strconv.Itoa(s.Ping.Replies) })
	row("facts report, last reply, median (ms)", func(s *Size) string { return ms(s.Facts.Median) })
	row("facts report, wall of the call, median (ms)", func(s *Size) string { return ms(s.Facts.Wall) })
	row("facts wall / its last reply", func(s *Size) string { return fmt.Sprintf("%.2fx", ratio(s.Facts.Wall, s.Facts.Median)) })
	row("facts wall / raw", func(s *Size) string { return fmt.Sprintf("%.2fx", ratio(s.Facts.Wall, s.Raw.Median)) })
	row("facts CPU a round, median (ms)", func(s *Size) string { return ms(s.Facts.CPU) })
	row("facts / raw, CPU", func(s *Size) string { return fmt.Sprintf("%.2fx", ratio(s.Facts.CPU, s.Raw.CPU)) })
	row("facts replies (fewest)", func(s *Size) string { return strconv.Itoa(s.Facts.Replies) })
	row("restart role=web, 25% batches (ms)", func(s *Size) string { return ms(s.Restart.Duration) })
	row("restart OK / targets", func(s *Size) string { return fmt.Sprintf("%d/%d", s.Restart.OK, s.Restart.Targets) })
	row("ingest offered (results/s)", func(s *Size) string { return fmt.Sprintf("%.0f", s.Ingest.Rate) })
	row("ingest applied / published", func(s *Size) string { return fmt.Sprintf("%d/%d", s.Ingest.Applied, s.Ingest.Published) })
	row("ingest lag mean (ms)", func(s *Size) string { return ms(s.Ingest.LagMean) })
	row("ingest lag p99 bucket (ms)", func(s *Size) string { return ms(s.Ingest.LagP99) })
	row("ingest drain after last publish (ms)", func(s *Size) string { return ms(s.Ingest.Drain) })
	row("/metrics, first scrape (ms)", func(s *Size) string { return ms(s.Metrics.First) })
	row("/metrics, next scrape (ms)", func(s *Size) string { return ms(s.Metrics.Duration) })
	row("/metrics size (KiB)", func(s *Size) string { return fmt.Sprintf("%.0f", float64(s.Metrics.Bytes)/1024) })
	row("/metrics series", func(s *Size) string { return strconv.Itoa(s.Metrics.Series) })
	row("process RSS", func(s *Size) string { return mib(s.Memory.ProcessRSS) })
	row("broker process RSS", func(s *Size) string { return mib(s.Memory.BrokerRSS) })
	row("heap per bare connection", func(s *Size) string { return kib(s.Memory.PerConn) })
	row("heap per agent", func(s *Size) string { return kib(s.Memory.PerAgent) })
	row("agent beyond its connection", func(s *Size) string { return kibSigned(s.Memory.AgentBeyondCon) })
	return tw.Flush()
}

// WriteJSON writes the report as indented JSON; durations are nanoseconds.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
