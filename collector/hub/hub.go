// Package hub fans the collector's events out to websocket clients: the web
// view and `pulse watch`. It must never let a client slow the collector
// down: Publish does not block, fan-out only does non-blocking sends, and a
// client whose queue fills is dropped rather than waited for.
package hub

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
)

// Subprotocol is the websocket subprotocol the hub speaks. Browsers, which
// cannot set an Authorization header on a websocket, offer it together
// with TokenProtocolPrefix+token.
const (
	Subprotocol         = "pulse.v1"
	TokenProtocolPrefix = "pulse.token."
)

// Options configure a Hub. Zero values take the defaults named.
type Options struct {
	// QueueSize is each client's send queue (256 events). A client that
	// falls this far behind is dropped.
	QueueSize int
	// InputSize is the hub's own queue between Publish and fan-out (4096
	// events); when it is full Publish discards the event and counts it.
	InputSize int
	// Recent is how many of the last events the hub keeps for clients that
	// ask for them on connecting (?recent=N), so a page opened now shows
	// what just happened (200). The queue bounds what one client gets.
	Recent int
	// Token, when set, is required: "Authorization: Bearer <token>", or the
	// subprotocol TokenProtocolPrefix+token offered beside Subprotocol.
	Token string
	// AllowedOrigins lists browser origins ("https://ops.example.com")
	// allowed besides the request's own host; "*" allows any.
	AllowedOrigins []string
	// PingInterval is how often the hub pings an idle client (25s); a
	// client that sends nothing, not even a pong, for two intervals is
	// closed.
	PingInterval time.Duration
	// WriteTimeout bounds each write to a client (10s).
	WriteTimeout time.Duration
	// Lookup finds a node for filtered subscriptions; nil means filters
	// only see the event's identity.
	Lookup func(identity string) (*filter.Target, bool)
	// Registerer receives the hub's metrics; nil registers none.
	Registerer prometheus.Registerer
	Logger     *slog.Logger
}

// Hub is the websocket fan-out of protocol.Events. It is safe for
// concurrent use. It fans out while Run runs; a client served before Run
// starts waits for it, and one that arrives after Run ended is told the
// collector is going away.
type Hub struct {
	opts     Options
	log      *slog.Logger
	upgrader websocket.Upgrader
	in       chan protocol.Event
	quit     chan struct{}
	close    sync.Once

	mu      sync.Mutex
	clients map[*hubClient]struct{}
	// recent is a ring of the last Recent events fanned out, oldest at
	// next once it has wrapped.
	recent []recentEvent
	next   int
	// conns counts the goroutines of every connected client (its reader
	// and its writer); Run waits for them, so none outlives the hub. It
	// is only added to under mu while the hub is open.
	conns sync.WaitGroup

	published, discarded, sent, dropped, refused atomic.Uint64
}

// Stats are the hub's counters, as also exported on /metrics.
type Stats struct {
	Clients   int    // connected now
	Published uint64 // events handed to Publish
	Discarded uint64 // events Publish discarded because fan-out was behind
	Sent      uint64 // messages queued to clients
	Dropped   uint64 // clients dropped as slow consumers
	Refused   uint64 // upgrades refused: origin, token or filter
}

// recentEvent is an event kept for late joiners, encoded once.
type recentEvent struct {
	msg      []byte
	identity string
}

type hubClient struct {
	conn   *websocket.Conn
	send   chan []byte
	match  *filter.Filter // nil: every event
	remote string
	// kick is closed when the hub drops the client; reason says why.
	kick   chan struct{}
	reason string
	code   int
}

// New builds a hub; it starts nothing until Run.
func New(opts Options) *Hub {
	if opts.QueueSize <= 0 {
		opts.QueueSize = 256
	}
	if opts.InputSize <= 0 {
		opts.InputSize = 4096
	}
	if opts.Recent <= 0 {
		opts.Recent = 200
	}
	if opts.PingInterval <= 0 {
		opts.PingInterval = 25 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Hub{
		opts:    opts,
		log:     opts.Logger.With("component", "event-hub"),
		in:      make(chan protocol.Event, opts.InputSize),
		quit:    make(chan struct{}),
		clients: map[*hubClient]struct{}{},
	}
	h.upgrader = websocket.Upgrader{
		HandshakeTimeout: opts.WriteTimeout,
		Subprotocols:     []string{Subprotocol},
		// The origin was checked before the upgrade, with a message that
		// says what to configure.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	if opts.Registerer != nil {
		h.register(opts.Registerer)
	}
	return h
}

func (h *Hub) register(r prometheus.Registerer) {
	counter := func(name, help string, v *atomic.Uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	for _, c := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "pulse_events_clients", Help: "Websocket clients connected to /api/v1/events."},
			func() float64 { return float64(h.Stats().Clients) }),
		counter("pulse_events_published_total", "Events handed to the websocket hub.", &h.published),
		counter("pulse_events_discarded_total", "Events the websocket hub discarded because its fan-out was behind.", &h.discarded),
		counter("pulse_events_sent_total", "Event messages queued to websocket clients.", &h.sent),
		counter("pulse_events_slow_clients_dropped_total", "Websocket clients dropped because their send queue was full.", &h.dropped),
		counter("pulse_events_refused_total", "Websocket upgrades refused for origin, token or filter.", &h.refused),
	} {
		if err := r.Register(c); err != nil {
			h.log.Warn("event hub metrics not registered; /metrics will lack them", "err", err)
		}
	}
}

// Publish hands e to every matching client. It never blocks: when fan-out
// is behind by InputSize events the event is discarded and counted.
func (h *Hub) Publish(e protocol.Event) {
	h.published.Add(1)
	if h.isClosed() {
		return
	}
	select {
	case h.in <- e:
	default:
		h.discarded.Add(1)
	}
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.Lock()
	n := len(h.clients)
	h.mu.Unlock()
	return Stats{
		Clients: n, Published: h.published.Load(), Discarded: h.discarded.Load(),
		Sent: h.sent.Load(), Dropped: h.dropped.Load(), Refused: h.refused.Load(),
	}
}

// isClosed reports whether Run has ended. A client added under h.mu
// before that is dropped as Run ends; one added after it is refused.
func (h *Hub) isClosed() bool {
	select {
	case <-h.quit:
		return true
	default:
		return false
	}
}

// Run fans events out until ctx ends, then drops every client with "going
// away" (http.Server.Shutdown does not close upgraded connections) and
// returns once their goroutines have ended. A hub runs once.
func (h *Hub) Run(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			h.close.Do(func() {
				h.mu.Lock()
				close(h.quit)
				for c := range h.clients {
					h.dropLocked(c, websocket.CloseGoingAway, "collector shutting down")
				}
				h.mu.Unlock()
			})
			h.conns.Wait()
			return nil
		case e := <-h.in:
			h.fanOut(e)
		}
	}
}

func (h *Hub) fanOut(e protocol.Event) {
	msg, err := json.Marshal(e)
	if err != nil {
		// Data is "any"; a value that cannot be encoded is the
		// publisher's bug, so say which event it was and carry on.
		h.log.Error("event not sent: it does not encode as JSON", "type", e.Type, "identity", e.Identity, "err", err)
		return
	}
	var (
		target  *filter.Target
		looked  bool
		hasNode = e.Identity != ""
	)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.remember(recentEvent{msg: msg, identity: e.Identity})
	for c := range h.clients {
		if c.match != nil && hasNode {
			if !looked {
				target, looked = h.lookup(e.Identity), true
			}
			if !c.match.Match(target) {
				continue
			}
		}
		select {
		case c.send <- msg:
			h.sent.Add(1)
		default:
			h.dropped.Add(1)
			behind := len(c.send) + 1
			h.log.Warn("dropping slow websocket client", "remote", c.remote, "behind", behind)
			h.dropLocked(c, websocket.ClosePolicyViolation, fmt.Sprintf("slow consumer: %d events behind", behind))
		}
	}
}

// remember keeps ev in the ring of recent events. h.mu must be held.
func (h *Hub) remember(ev recentEvent) {
	if len(h.recent) < h.opts.Recent {
		h.recent = append(h.recent, ev)
		return
	}
	h.recent[h.next] = ev
	h.next = (h.next + 1) % len(h.recent)
}

// backlog queues to c the last n remembered events that match it, oldest
// first, at most its queue's room. h.mu must be held, so no event is both
// in the backlog and fanned out, and none falls between.
func (h *Hub) backlog(c *hubClient, n int) {
	var out [][]byte
	// Newest first, so the limit keeps the latest.
	for i := 0; i < len(h.recent) && len(out) < n && len(out) < cap(c.send); i++ {
		ev := h.recent[(h.next+len(h.recent)-1-i)%len(h.recent)]
		if c.match != nil && ev.identity != "" && !c.match.Match(h.lookup(ev.identity)) {
			continue
		}
		out = append(out, ev.msg)
	}
	for i := len(out) - 1; i >= 0; i-- {
		c.send <- out[i]
		h.sent.Add(1)
	}
}

// lookup finds the node an event is about. It is called with h.mu held,
// so Lookup must not call back into the hub.
func (h *Hub) lookup(id string) *filter.Target {
	if h.opts.Lookup != nil {
		if t, ok := h.opts.Lookup(id); ok {
			return t
		}
	}
	return &filter.Target{Identity: id}
}

// dropLocked removes c and tells its writer to close with code and reason.
// h.mu must be held.
func (h *Hub) dropLocked(c *hubClient, code int, reason string) {
	if _, ok := h.clients[c]; !ok {
		return
	}
	delete(h.clients, c)
	c.code, c.reason = code, reason
	close(c.kick)
}

// Handler serves GET /api/v1/events: the websocket upgrade. Query
// parameters narrow node events with the CLI's filter language: filter (a
// -W expression, repeatable), fact, class, identity, agent (repeatable)
// and select (a -S compound expression). recent=N first sends up to N of
// the last events that match, oldest first, then the live ones.
func (h *Hub) Handler() http.Handler { return http.HandlerFunc(h.serve) }

func (h *Hub) serve(w http.ResponseWriter, r *http.Request) {
	if msg, ok := h.originAllowed(r); !ok {
		h.refused.Add(1)
		http.Error(w, msg, http.StatusForbidden)
		return
	}
	if !h.authorized(r) {
		h.refused.Add(1)
		w.Header().Set("WWW-Authenticate", `Bearer realm="pulse"`)
		http.Error(w, "missing or wrong token for /api/v1/events: send Authorization: Bearer <token>, or from a browser offer the websocket subprotocols \""+Subprotocol+"\" and \""+TokenProtocolPrefix+"<token>\"", http.StatusUnauthorized)
		return
	}
	spec, match, err := api.SpecFromQuery(r.URL.Query())
	if err != nil {
		h.refused.Add(1)
		http.Error(w, "bad event filter: "+err.Error(), http.StatusBadRequest)
		return
	}
	recent := 0
	if v := r.URL.Query().Get("recent"); v != "" {
		if recent, err = strconv.Atoi(v); err != nil || recent < 0 {
			h.refused.Add(1)
			http.Error(w, fmt.Sprintf("recent=%q: want a count of past events such as recent=50", v), http.StatusBadRequest)
			return
		}
	}
	conn, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// The upgrader has already answered the client.
		h.log.Debug("websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
		return
	}
	c := &hubClient{conn: conn, send: make(chan []byte, h.opts.QueueSize), match: match, remote: r.RemoteAddr, kick: make(chan struct{})}
	h.mu.Lock()
	if h.isClosed() {
		h.mu.Unlock()
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "collector shutting down"), time.Now().Add(h.opts.WriteTimeout))
		_ = conn.Close()
		return
	}
	h.backlog(c, recent)
	h.clients[c] = struct{}{}
	h.conns.Add(2)
	h.mu.Unlock()
	h.log.Debug("websocket client connected", "remote", c.remote, "filter", spec)
	go func() {
		defer h.conns.Done()
		h.read(c)
	}()
	defer h.conns.Done()
	h.write(c)
}

// originAllowed accepts requests without an Origin (non-browser clients
// such as pulse watch), from the request's own host, or from an allowed
// origin, so that another site open in a user's browser cannot read the
// fleet's events.
func (h *Hub) originAllowed(r *http.Request) (string, bool) {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return "", true
	}
	for _, o := range h.opts.AllowedOrigins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return "", true
		}
	}
	u, err := url.Parse(origin)
	if err == nil && strings.EqualFold(u.Host, r.Host) {
		return "", true
	}
	return fmt.Sprintf("websocket origin %q is not allowed for host %q: open the web view from the collector's own address, or add the origin to the collector's allowed web origins", origin, r.Host), false
}

func (h *Hub) authorized(r *http.Request) bool {
	if h.opts.Token == "" {
		return true
	}
	if got := r.Header.Get("Authorization"); got != "" {
		return subtle.ConstantTimeCompare([]byte(got), []byte("Bearer "+h.opts.Token)) == 1
	}
	for _, p := range websocket.Subprotocols(r) {
		if tok, ok := strings.CutPrefix(p, TokenProtocolPrefix); ok {
			return subtle.ConstantTimeCompare([]byte(tok), []byte(h.opts.Token)) == 1
		}
	}
	return false
}

// read consumes what the client sends (only control frames matter) so
// pongs and close frames are seen, and ends the client when it goes.
func (h *Hub) read(c *hubClient) {
	wait := 2 * h.opts.PingInterval
	c.conn.SetReadLimit(4096)
	_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	c.conn.SetPongHandler(func(string) error { return c.conn.SetReadDeadline(time.Now().Add(wait)) })
	for {
		if _, _, err := c.conn.NextReader(); err != nil {
			break
		}
		_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	}
	h.mu.Lock()
	h.dropLocked(c, websocket.CloseNormalClosure, "")
	h.mu.Unlock()
}

// write is the only writer of data frames to c. It pings on a ticker and,
// once kicked, sends the close frame with the reason and closes.
func (h *Hub) write(c *hubClient) {
	tick := time.NewTicker(h.opts.PingInterval)
	defer tick.Stop()
	defer c.conn.Close()
	for {
		// A kick wins over queued messages: a dropped client gets its
		// reason, not more of the backlog.
		select {
		case <-c.kick:
			h.sendClose(c)
			return
		default:
		}
		select {
		case <-c.kick:
			h.sendClose(c)
			return
		case msg := <-c.send:
			_ = c.conn.SetWriteDeadline(time.Now().Add(h.opts.WriteTimeout))
			if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
				h.mu.Lock()
				h.dropLocked(c, websocket.CloseAbnormalClosure, "")
				h.mu.Unlock()
				return
			}
		case <-tick.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(h.opts.WriteTimeout)); err != nil {
				h.mu.Lock()
				h.dropLocked(c, websocket.CloseAbnormalClosure, "")
				h.mu.Unlock()
				return
			}
		}
	}
}

func (h *Hub) sendClose(c *hubClient) {
	if c.reason == "" && c.code != websocket.CloseGoingAway && c.code != websocket.ClosePolicyViolation {
		return // the client went away; there is nobody to tell
	}
	_ = c.conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(c.code, c.reason), time.Now().Add(h.opts.WriteTimeout))
}
