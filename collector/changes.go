package collector

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/protocol"
)

// Every package and service change pulse makes is announced by the node it
// made it on (protocol.Change, on Subjects.Changes). The collector keeps
// them in a bounded JetStream stream (the history: how many and how old is
// the operator's choice, ChangesMaxMsgs and ChangesMaxAge), follows it, and
// turns it into the node's change counters, the time of its last change,
// events for the web view and `pulse watch`, and a list of recent changes
// (GET /api/v1/changes).

// Defaults of the changes stream's bounds.
const (
	defaultChangesMaxAge  = 30 * 24 * time.Hour
	defaultChangesMaxMsgs = 100000
	// changesMaxBytes bounds the stream whatever the counts say: a change
	// event is a few hundred bytes.
	changesMaxBytes = 256 << 20
	// maxRecentChanges is how many changes GET /api/v1/changes keeps.
	maxRecentChanges = 500
	// maxPackagesPerNode bounds pulse_package_info per node, as the agent
	// bounds what it watches.
	maxPackagesPerNode = 16
)

// changeKinds and changeResults are the label values of
// pulse_changes_total, every one exported from 0 for a node that changed
// at all, so rate() sees the first failure too.
var (
	changeKinds   = []string{"package", "service"}
	changeResults = []string{protocol.ChangeOK, protocol.ChangeFailed, protocol.ChangeUnchanged}
)

// changeLog is what the collector knows of the changes made to the fleet.
type changeLog struct {
	mu     sync.Mutex
	nodes  map[string]*nodeChanges
	recent []protocol.Change // oldest first, at most maxRecentChanges
}

// nodeChanges is one node's change stream: where it stands (freshness),
// when it last changed and its agent's cumulative counts.
type nodeChanges struct {
	fresh  freshness
	last   time.Time
	counts map[string]uint64
}

func newChangeLog() *changeLog { return &changeLog{nodes: map[string]*nodeChanges{}} }

// apply records c; it returns why not ("" when it did).
func (l *changeLog) apply(c *protocol.Change) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.nodes[c.Identity]
	if n == nil {
		n = &nodeChanges{}
		l.nodes[c.Identity] = n
	}
	if reason := n.fresh.accept(c.Stream, c.Time); reason != "" {
		return reason
	}
	n.last = c.Time
	n.counts = c.Counts
	l.recent = append(l.recent, *c)
	if len(l.recent) > maxRecentChanges {
		l.recent = slices.Delete(l.recent, 0, len(l.recent)-maxRecentChanges)
	}
	return ""
}

// ensureChangesStream creates the changes stream, or brings its subjects
// and bounds into line with the options.
func (c *Collector) ensureChangesStream(ctx context.Context, js jetstream.JetStream) error {
	name := c.subj.ChangesStream()
	want := jetstream.StreamConfig{
		Name:        name,
		Description: "pulse: every package and service change pulse made, as the nodes announced them",
		Subjects:    []string{c.subj.ChangesAll()},
		MaxAge:      c.opts.ChangesMaxAge,
		MaxMsgs:     int64(c.opts.ChangesMaxMsgs),
		MaxBytes:    changesMaxBytes,
		MaxMsgSize:  protocol.MaxMessageSize,
		Storage:     jetstream.FileStorage,
		Replicas:    c.opts.Replicas,
		Discard:     jetstream.DiscardOld,
	}
	s, err := js.Stream(ctx, name)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		if _, err := js.CreateStream(ctx, want); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return fmt.Errorf("collector: create JetStream stream %s over %s: %w", name, c.subj.ChangesAll(), err)
		}
		c.log.Info("created JetStream stream", "stream", name, "subject", c.subj.ChangesAll(), "max_age", want.MaxAge, "max_msgs", want.MaxMsgs)
		return nil
	case err != nil:
		return fmt.Errorf("collector: look up JetStream stream %s: %w", name, err)
	}
	have := s.CachedInfo().Config
	if slices.Equal(have.Subjects, want.Subjects) && have.MaxAge == want.MaxAge && have.MaxMsgs == want.MaxMsgs && have.MaxBytes > 0 {
		return nil
	}
	have.Subjects, have.MaxAge, have.MaxMsgs, have.MaxBytes = want.Subjects, want.MaxAge, want.MaxMsgs, cmp.Or(have.MaxBytes, want.MaxBytes)
	if _, err := js.UpdateStream(ctx, have); err != nil {
		return fmt.Errorf("collector: stream %s cannot be changed to keep %d changes for %s: fix or delete the stream: %w", name, want.MaxMsgs, want.MaxAge, err)
	}
	c.log.Info("updated the bounds of the changes stream", "stream", name, "max_age", want.MaxAge, "max_msgs", want.MaxMsgs)
	return nil
}

// handleChange ingests one change event from node id.
func (c *Collector) handleChange(subject, id string, data []byte, stored, now time.Time) {
	env, ok := c.open("change", subject, id, data)
	if !ok {
		return
	}
	ch, err := env.Change()
	if err != nil {
		c.malformed("change", protocol.ErrorReason(err), subject, err)
		return
	}
	if inFuture(ch.Time, now, c.opts.Skew) {
		c.malformed("change", reasonFuture, subject, fmt.Errorf("change from %s is dated %s ahead (allowed skew %s): check the node's clock",
			id, ch.Time.Sub(now).Round(time.Millisecond), c.opts.Skew))
		return
	}
	if err := cleanChange(ch); err != nil {
		c.malformed("change", "invalid", subject, err)
		return
	}
	if reason := c.changes.apply(ch); reason != "" {
		c.malformed("change", reason, subject, fmt.Errorf("change %s/%d from %s is not newer than the one accepted", ch.Boot, ch.Seq, id))
		return
	}
	if stored.Before(c.startedAt()) {
		return // history rebuilds the counts; it is no news
	}
	c.emit([]protocol.Event{{Type: protocol.EventChange, Time: now, Identity: id, Message: ChangeSentence(ch), Data: *ch}})
}

// startedAt is when ingest began.
func (c *Collector) startedAt() time.Time {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.state.started
}

// cleanChange refuses a change whose labels would be made up: a kind or
// result pulse does not know, counts under other keys. Strings are bounded
// so one node cannot fill the recent list with megabytes.
func cleanChange(ch *protocol.Change) error {
	if !slices.Contains(changeKinds, ch.Kind) {
		return fmt.Errorf("change kind %q is neither package nor service", ch.Kind)
	}
	if !slices.Contains(changeResults, ch.Result) {
		return fmt.Errorf("change result %q is not one of %s", ch.Result, strings.Join(changeResults, ", "))
	}
	for k := range ch.Counts {
		kind, result, _ := strings.Cut(k, "/")
		if !slices.Contains(changeKinds, kind) || !slices.Contains(changeResults, result) {
			return fmt.Errorf("change count %q is not kind/result", k)
		}
	}
	for _, s := range []*string{&ch.Action, &ch.Name, &ch.From, &ch.To, &ch.Caller, &ch.Request} {
		*s = strings.ToValidUTF8(truncateUTF8(*s, 256), "\uFFFD")
	}
	ch.Error = strings.ToValidUTF8(truncateUTF8(ch.Error, 1024), "\uFFFD")
	if o := ch.Origin; o != nil {
		if !protocol.ViaKnown(o.Via) {
			o.Via = "other"
		}
		o.ID = strings.ToValidUTF8(truncateUTF8(o.ID, 128), "\uFFFD")
	}
	return nil
}

// ChangeSentence says what a change did in one line, for the feed:
// "package shop 1.0.0 → 1.1.0 on ip-10-0-1-10 by user=alice (rollout
// 1a2b): ok".
func ChangeSentence(ch *protocol.Change) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", ch.Kind, ch.Action, ch.Name)
	if ch.From != ch.To || ch.Result == protocol.ChangeUnchanged {
		fmt.Fprintf(&b, " %s → %s", ch.From, ch.To)
	}
	fmt.Fprintf(&b, " on %s by %s", ch.Identity, ch.Caller)
	if o := ch.Origin; o != nil {
		b.WriteString(" (" + o.Via)
		if o.ID != "" {
			b.WriteString(" " + o.ID)
		}
		b.WriteString(")")
	}
	b.WriteString(": " + ch.Result)
	if ch.Error != "" {
		b.WriteString(": " + ch.Error)
	}
	return b.String()
}

// Changes returns the recent changes, newest first, at most limit (all
// kept when limit <= 0), of identity only when it is not empty.
func (c *Collector) Changes(identity string, limit int) []protocol.Change {
	l := c.changes
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []protocol.Change{}
	for i := len(l.recent) - 1; i >= 0 && (limit <= 0 || len(out) < limit); i-- {
		if identity == "" || l.recent[i].Identity == identity {
			out = append(out, l.recent[i])
		}
	}
	return out
}

// serveChanges lists recent changes: GET /api/v1/changes?identity=&limit=.
func (c *Collector) serveChanges(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 || n > maxRecentChanges {
			api.WriteError(w, http.StatusBadRequest, fmt.Sprintf("limit=%q: use a number from 1 to %d", s, maxRecentChanges))
			return
		}
		limit = n
	}
	api.WriteJSON(w, http.StatusOK, c.Changes(q.Get("identity"), limit))
}

// changeMetrics exposes the changes per node and the watched packages'
// versions. Both are few series beside the fleet's (only nodes that
// changed, only packages a node was asked to watch), so they are built at
// each scrape from the state rather than indexed.
type changeMetrics struct {
	c                    *Collector
	total, last, pkgInfo *prometheus.Desc
}

func newChangeMetrics(c *Collector) *changeMetrics {
	node := []string{"identity"}
	for _, r := range c.rules {
		node = append(node, r.label)
	}
	return &changeMetrics{
		c: c,
		total: prometheus.NewDesc("pulse_changes_total",
			"Package and service changes pulse made on the node since its agent started, by kind and result (ok, failed, unchanged).",
			append(slices.Clone(node), "kind", "result"), nil),
		last: prometheus.NewDesc("pulse_node_last_change_timestamp_seconds",
			"Unix time of the last package or service change pulse made on the node.", node, nil),
		pkgInfo: prometheus.NewDesc("pulse_package_info",
			"Always 1; the installed version of a package the node watches (version \"absent\" when it is not installed), for group_left joins.",
			append(slices.Clone(node), "package", "version"), nil),
	}
}

func (m *changeMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.total
	ch <- m.last
	ch <- m.pkgInfo
}

func (m *changeMetrics) Collect(ch chan<- prometheus.Metric) {
	c := m.c
	type nodeChange struct {
		id     string
		last   time.Time
		counts map[string]uint64
	}
	c.changes.mu.Lock()
	changed := make([]nodeChange, 0, len(c.changes.nodes))
	for id, n := range c.changes.nodes {
		changed = append(changed, nodeChange{id, n.last, n.counts})
	}
	c.changes.mu.Unlock()

	c.mu.RLock()
	labels := func(id string) []string {
		out := []string{id}
		if n := c.state.nodes[id]; n != nil {
			return append(out, n.values...)
		}
		return append(out, make([]string, len(c.rules))...)
	}
	for _, n := range changed {
		lv := labels(n.id)
		for _, kind := range changeKinds {
			for _, result := range changeResults {
				ch <- prometheus.MustNewConstMetric(m.total, prometheus.CounterValue, float64(n.counts[kind+"/"+result]), append(slices.Clone(lv), kind, result)...)
			}
		}
		ch <- prometheus.MustNewConstMetric(m.last, prometheus.GaugeValue, unix(n.last), lv...)
	}
	for id, n := range c.state.nodes {
		if len(n.reg.Packages) == 0 || !n.admitted {
			continue
		}
		lv := labels(id)
		// A node reports at most MaxWatchPackages (nodeagent); one that
		// sends more is cut there, so it cannot grow the series.
		pkgs := slices.Sorted(maps.Keys(n.reg.Packages))
		for _, p := range pkgs[:min(len(pkgs), maxPackagesPerNode)] {
			if !utf8.ValidString(p) || !utf8.ValidString(n.reg.Packages[p]) {
				continue
			}
			ch <- prometheus.MustNewConstMetric(m.pkgInfo, prometheus.GaugeValue, 1, append(slices.Clone(lv), p, n.reg.Packages[p])...)
		}
	}
	c.mu.RUnlock()
}

// LabelNames are the fleet's fact labels (az, role, cluster by default),
// in the order LabelValues gives their values.
func (c *Collector) LabelNames() []string {
	out := make([]string, len(c.rules))
	for i, r := range c.rules {
		out[i] = r.label
	}
	return out
}

// LabelValues are a node's fact label values after the cardinality guard,
// "" for a node the collector does not know.
func (c *Collector) LabelValues(identity string) []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if n := c.state.nodes[identity]; n != nil {
		return slices.Clone(n.values)
	}
	return make([]string, len(c.rules))
}
