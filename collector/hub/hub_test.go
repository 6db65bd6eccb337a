package hub

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/pulseops/pulse/collector"
	"github.com/pulseops/pulse/internal/protocol"
)

// hubServer serves a collector fed directly, with a running hub mounted at
// /api/v1/events beside the collector's read API, as the collector app
// mounts it. stop ends the hub's Run and waits for it.
func hubServer(t testing.TB, opts Options) (c *collector.Collector, h *Hub, srv *httptest.Server, stop func()) {
	t.Helper()
	c = newDirect(t, nil)
	opts.Lookup = c.Target
	opts.Registerer = c.Registry()
	opts.Logger = discardLogger()
	h = New(opts)
	mux := http.NewServeMux()
	c.Register(mux)
	mux.Handle("GET /api/v1/events", h.Handler())
	srv = httptest.NewServer(mux)
	stop = runHub(t, h)
	t.Cleanup(func() {
		stop()
		srv.Close()
	})
	return c, h, srv, stop
}

// runHub runs h until the returned stop is called (or the test ends) and
// checks that Run returned.
func runHub(t testing.TB, h *Hub) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("hub Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

func wsURL(srv *httptest.Server, query string) string {
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/api/v1/events" + query
}

func dial(t testing.TB, url string, hdr http.Header) *websocket.Conn {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url, hdr)
	if err != nil {
		t.Fatalf("dial %s: %v (%s)", url, err, respText(resp))
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func respText(resp *http.Response) string {
	if resp == nil {
		return "no response"
	}
	b, _ := io.ReadAll(resp.Body)
	return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
}

// counter reads events from conn in the background.
type counter struct {
	mu   sync.Mutex
	evs  []protocol.Event
	err  error
	done chan struct{}
}

func readAll(conn *websocket.Conn) *counter {
	c := &counter{done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			var e protocol.Event
			if err := conn.ReadJSON(&e); err != nil {
				c.mu.Lock()
				c.err = err
				c.mu.Unlock()
				return
			}
			c.mu.Lock()
			c.evs = append(c.evs, e)
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *counter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.evs)
}

func (c *counter) messages() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.evs {
		out = append(out, e.Type+" "+e.Identity)
	}
	return out
}

func waitClients(t testing.TB, h *Hub, n int) {
	t.Helper()
	eventually(t, 5*time.Second, func() error {
		if got := h.Stats().Clients; got != n {
			return fmt.Errorf("hub has %d clients, want %d", got, n)
		}
		return nil
	})
}

func TestSlowConsumerIsDroppedAndOthersKeepReceiving(t *testing.T) {
	c, h, srv, _ := hubServer(t, Options{QueueSize: 8})
	slow := dial(t, wsURL(srv, ""), nil) // never reads until dropped
	fast := readAll(dial(t, wsURL(srv, ""), nil))
	waitClients(t, h, 2)

	// Large events fill the slow client's socket buffers quickly; rounds
	// smaller than the queue let the fast client keep up, so only the
	// client that does not read can fall behind.
	big := strings.Repeat("x", 64<<10)
	sent := 0
	deadline := time.Now().Add(30 * time.Second)
	for h.Stats().Dropped == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("slow client never dropped after %d events: %+v", sent, h.Stats())
		}
		for range 4 {
			h.Publish(protocol.Event{Type: protocol.EventAction, Message: big})
			sent++
		}
		want := sent
		eventually(t, 10*time.Second, func() error {
			if got := fast.count(); got != want {
				return fmt.Errorf("fast client has %d of %d events", got, want)
			}
			return nil
		})
	}
	if st := h.Stats(); st.Dropped != 1 || st.Clients != 1 || st.Discarded != 0 {
		t.Fatalf("after the drop: %+v, want 1 dropped, 1 client, 0 discarded", st)
	}

	// The collector still answers and the remaining client still receives.
	text := scrape(t, c.Handler())
	for _, want := range []string{"pulse_events_slow_clients_dropped_total 1", "pulse_events_clients 1"} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics over HTTP after the drop: %v %v", err, respText(resp))
	}
	resp.Body.Close()
	h.Publish(protocol.Event{Type: protocol.EventAction, Message: "after"})
	eventually(t, 5*time.Second, func() error {
		if got := fast.count(); got != sent+1 {
			return fmt.Errorf("fast client has %d of %d events", got, sent+1)
		}
		return nil
	})

	// Draining the slow client's backlog ends in the close frame's reason.
	_ = slow.SetReadDeadline(time.Now().Add(20 * time.Second))
	var closeErr *websocket.CloseError
	for {
		_, _, err := slow.ReadMessage()
		if err == nil {
			continue
		}
		if !errors.As(err, &closeErr) {
			t.Fatalf("slow client ended with %v, want a close frame", err)
		}
		break
	}
	if closeErr.Code != websocket.ClosePolicyViolation || !regexp.MustCompile(`^slow consumer: \d+ events behind$`).MatchString(closeErr.Text) {
		t.Fatalf("close frame %d %q, want %d \"slow consumer: N events behind\"", closeErr.Code, closeErr.Text, websocket.ClosePolicyViolation)
	}
}

func TestHubRefusesWrongOriginAndToken(t *testing.T) {
	_, h, srv, _ := hubServer(t, Options{Token: "s3cret", AllowedOrigins: []string{"https://ops.example.com"}})
	host := strings.TrimPrefix(srv.URL, "http://")
	tokenHdr := http.Header{"Authorization": {"Bearer s3cret"}}
	with := func(h http.Header, k, v string) http.Header {
		out := h.Clone()
		if out == nil {
			out = http.Header{}
		}
		out.Set(k, v)
		return out
	}
	tests := []struct {
		name      string
		hdr       http.Header
		protocols []string
		code      int // 0: upgraded
		body      string
	}{
		{name: "bearer without origin (CLI)", hdr: tokenHdr},
		{name: "same-host origin", hdr: with(tokenHdr, "Origin", "http://"+host)},
		{name: "allowed origin", hdr: with(tokenHdr, "Origin", "https://ops.example.com")},
		{name: "browser subprotocol token", hdr: http.Header{"Origin": {"http://" + host}}, protocols: []string{Subprotocol, TokenProtocolPrefix + "s3cret"}},
		{
			name: "other origin", hdr: with(tokenHdr, "Origin", "http://evil.example"), code: 403,
			body: `websocket origin "http://evil.example" is not allowed for host "` + host + `": open the web view from the collector's own address, or add the origin to the collector's allowed web origins`,
		},
		{
			name: "no token", code: 401,
			body: `missing or wrong token for /api/v1/events: send Authorization: Bearer <token>, or from a browser offer the websocket subprotocols "pulse.v1" and "pulse.token.<token>"`,
		},
		{
			name: "wrong bearer", hdr: http.Header{"Authorization": {"Bearer nope"}}, code: 401,
			body: `missing or wrong token for /api/v1/events: send Authorization: Bearer <token>, or from a browser offer the websocket subprotocols "pulse.v1" and "pulse.token.<token>"`,
		},
		{
			name: "wrong subprotocol token", protocols: []string{Subprotocol, TokenProtocolPrefix + "nope"}, code: 401,
			body: `missing or wrong token for /api/v1/events: send Authorization: Bearer <token>, or from a browser offer the websocket subprotocols "pulse.v1" and "pulse.token.<token>"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := websocket.Dialer{Subprotocols: tt.protocols, HandshakeTimeout: 5 * time.Second}
			conn, resp, err := d.Dial(wsURL(srv, ""), tt.hdr)
			if tt.code == 0 {
				if err != nil {
					t.Fatalf("dial: %v (%s)", err, respText(resp))
				}
				defer conn.Close()
				if tt.protocols != nil && conn.Subprotocol() != Subprotocol {
					t.Errorf("subprotocol %q, want %q: browsers fail a connection whose offer is not answered", conn.Subprotocol(), Subprotocol)
				}
				return
			}
			if err == nil {
				conn.Close()
				t.Fatalf("dial succeeded, want %d", tt.code)
			}
			if got, want := respText(resp), fmt.Sprintf("%d %s", tt.code, tt.body); got != want {
				t.Fatalf("refusal\n got %s\nwant %s", got, want)
			}
		})
	}
	if got := h.Stats().Refused; got != 4 {
		t.Errorf("refused counter %d, want 4", got)
	}
}

func TestHubFilter(t *testing.T) {
	c, h, srv, _ := hubServer(t, Options{})
	feedReg(t, c, registration("web1", map[string]any{"role": "web"}), t0)
	feedReg(t, c, registration("db1", map[string]any{"role": "db"}), t0)

	tests := []struct {
		query string
		code  int
		body  string
	}{
		{query: "?filter=role%3D", code: 400, body: "bad event filter: with filter \"role=\": expected a value after \"=\" at column 6, found end of input"},
		{query: "?select=role%3Dweb&compound=role%3Ddb", code: 400, body: "bad event filter: both select and compound are set: they are the same -S expression, send one"},
	}
	for _, tt := range tests {
		_, resp, err := websocket.DefaultDialer.Dial(wsURL(srv, tt.query), nil)
		if err == nil {
			t.Fatalf("%s: dial succeeded, want %d", tt.query, tt.code)
		}
		if got, want := respText(resp), fmt.Sprintf("%d %s", tt.code, tt.body); got != want {
			t.Errorf("%s\n got %s\nwant %s", tt.query, got, want)
		}
	}

	web := readAll(dial(t, wsURL(srv, "?filter=role%3Dweb"), nil))
	notWeb := readAll(dial(t, wsURL(srv, "?select=not+role%3Dweb"), nil))
	all := readAll(dial(t, wsURL(srv, ""), nil))
	waitClients(t, h, 3)
	for _, e := range []protocol.Event{
		{Type: protocol.EventNodeDown, Identity: "db1"},
		{Type: protocol.EventNodeDown, Identity: "web1"},
		{Type: protocol.EventNodeUp, Identity: "unknown9"},
		{Type: protocol.EventAction, Message: "fleet-wide"},
	} {
		h.Publish(e)
	}
	eventually(t, 5*time.Second, func() error {
		if all.count() != 4 || web.count() != 2 || notWeb.count() != 3 {
			return fmt.Errorf("received all=%v web=%v notWeb=%v", all.messages(), web.messages(), notWeb.messages())
		}
		return nil
	})
	if got, want := strings.Join(web.messages(), ","), "node_down web1,action "; got != want {
		t.Errorf("role=web client got %q, want %q", got, want)
	}
	if got, want := strings.Join(notWeb.messages(), ","), "node_down db1,node_up unknown9,action "; got != want {
		t.Errorf("not role=web client got %q, want %q", got, want)
	}
}

func TestHubCloseSaysGoingAway(t *testing.T) {
	_, h, srv, stop := hubServer(t, Options{})
	conn := dial(t, wsURL(srv, ""), nil)
	waitClients(t, h, 1)
	stop()
	h.Publish(protocol.Event{Type: protocol.EventAction}) // after Run ended: ignored, not blocking
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := conn.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway || ce.Text != "collector shutting down" {
		t.Fatalf("read after Run ended: %v, want close 1001 \"collector shutting down\"", err)
	}
	// A client arriving after Run ended is told the same.
	late := dial(t, wsURL(srv, ""), nil)
	_ = late.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := late.ReadMessage(); !errors.As(err, &ce) || ce.Code != websocket.CloseGoingAway {
		t.Fatalf("late client read: %v, want close 1001", err)
	}
}

func TestHubKeepaliveClosesSilentClient(t *testing.T) {
	// A client that answers no ping (it reads, so it sees its connection
	// end, but its ping handler sends no pong) is closed after two
	// intervals, without the test catching the moment it is connected.
	_, h, srv, _ := hubServer(t, Options{PingInterval: 50 * time.Millisecond})
	silent := dial(t, wsURL(srv, ""), nil)
	var silentPinged atomic.Bool
	silent.SetPingHandler(func(string) error { silentPinged.Store(true); return nil })
	_ = silent.SetReadDeadline(time.Now().Add(30 * time.Second))
	_, _, err := silent.ReadMessage()
	if ne, ok := errors.AsType[net.Error](err); err == nil || ok && ne.Timeout() {
		t.Fatalf("silent client still connected after 30s: %v", err)
	}
	if !silentPinged.Load() {
		t.Fatalf("silent client closed (%v) before it was ever pinged", err)
	}
	waitClients(t, h, 0)

	// A client that reads answers pings and stays past the first
	// deadline. It is another hub's, pinging less often: a pong late by an
	// interval (a loaded machine's pause, not a silent client) would drop
	// it, and 50 ms is within such a pause.
	_, h, srv, _ = hubServer(t, Options{PingInterval: 500 * time.Millisecond})
	live := dial(t, wsURL(srv, ""), nil)
	var pings atomic.Int64
	live.SetPingHandler(func(data string) error {
		pings.Add(1)
		return live.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	r := readAll(live)
	waitClients(t, h, 1)
	// Three pings: more than two intervals since it connected.
	eventually(t, 10*time.Second, func() error {
		if n := pings.Load(); n < 3 {
			return fmt.Errorf("%d pings so far", n)
		}
		return nil
	})
	h.Publish(protocol.Event{Type: protocol.EventAction})
	eventually(t, 5*time.Second, func() error {
		if r.count() != 1 {
			return fmt.Errorf("live client got %d events", r.count())
		}
		return nil
	})
	if got := h.Stats().Clients; got != 1 {
		t.Fatalf("%d clients, want the live one", got)
	}
}

func TestPublishNeverBlocks(t *testing.T) {
	h := New(Options{InputSize: 1})
	runHub(t, h)
	// Holding h.mu stalls fan-out, so nothing reads h.in beyond the one
	// event fan-out may have taken: Publish must discard, not wait.
	h.mu.Lock()
	for range 10000 {
		h.Publish(protocol.Event{Type: protocol.EventAction})
	}
	h.mu.Unlock()
	// At most one event is in fan-out and one in the queue.
	if st := h.Stats(); st.Published != 10000 || st.Discarded < 10000-2 {
		t.Fatalf("published %d, discarded %d; want 10000 published and all but at most 2 discarded", st.Published, st.Discarded)
	}
}

func TestEventJSONOnTheWire(t *testing.T) {
	_, h, srv, _ := hubServer(t, Options{})
	conn := dial(t, wsURL(srv, ""), nil)
	waitClients(t, h, 1)
	at := time.Date(2025, 6, 1, 9, 12, 1, 0, time.UTC)
	h.Publish(protocol.Event{Type: protocol.EventCheckState, Time: at, Identity: "ip-10-0-1-12", Check: "check_nginx", Status: 2, Message: "m"})
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := conn.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"check_state","time":"2025-06-01T09:12:01Z","identity":"ip-10-0-1-12","check":"check_nginx","status":2,"message":"m"}`
	if string(b) != want {
		t.Fatalf("wire message\n got %s\nwant %s", b, want)
	}
	var e protocol.Event
	if err := json.Unmarshal(b, &e); err != nil || e.Status != 2 {
		t.Fatalf("round trip: %v %+v", err, e)
	}
}

// The fan-out benchmark holds its clients in a second process (this test
// binary run again), so the getrusage of this process is the collector's
// CPU alone. PULSE_FANOUT_HELPER is "mode addr clients" with mode ws or tcp.
const fanOutHelperEnv = "PULSE_FANOUT_HELPER"

// benchDone is the event that tells the helper's clients the run is over.
const benchDone = "bench_done"

func TestFanOutClientsHelper(t *testing.T) {
	spec := os.Getenv(fanOutHelperEnv)
	if spec == "" {
		t.Skip("the client process of BenchmarkEventFanOut; runs only when the benchmark starts it")
	}
	var mode, addr string
	var n int
	if _, err := fmt.Sscan(spec, &mode, &addr, &n); err != nil {
		t.Fatalf("%s=%q: %v", fanOutHelperEnv, spec, err)
	}
	var (
		mu   sync.Mutex
		lats []int64
		wg   sync.WaitGroup
	)
	record := func(b []byte) bool {
		var e protocol.Event
		if err := json.Unmarshal(b, &e); err != nil {
			t.Errorf("bad event %q: %v", b, err)
			return false
		}
		if e.Type == benchDone {
			return false
		}
		d := time.Since(e.Time).Nanoseconds()
		mu.Lock()
		lats = append(lats, d)
		mu.Unlock()
		return true
	}
	for range n {
		switch mode {
		case "ws":
			conn, _, err := websocket.DefaultDialer.Dial(addr, nil)
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				defer conn.Close()
				for {
					_, b, err := conn.ReadMessage()
					if err != nil || !record(b) {
						return
					}
				}
			})
		case "tcp":
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			wg.Go(func() {
				defer conn.Close()
				sc := bufio.NewScanner(conn)
				for sc.Scan() {
					if !record(sc.Bytes()) {
						return
					}
				}
			})
		default:
			t.Fatalf("mode %q: want ws or tcp", mode)
		}
	}
	fmt.Println("FANOUT-READY")
	wg.Wait()
	b, _ := json.Marshal(lats)
	fmt.Printf("FANOUT-LATENCIES %s\n", b)
}

// tcpFanOut is the baseline: the same non-blocking queue per client as the
// hub, written as JSON lines to plain TCP connections.
type tcpFanOut struct {
	ln    net.Listener
	in    chan protocol.Event
	mu    sync.Mutex
	conns []chan []byte
}

func newTCPFanOut(b *testing.B) *tcpFanOut {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	f := &tcpFanOut{ln: ln, in: make(chan protocol.Event, 4096)}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			q := make(chan []byte, 256)
			f.mu.Lock()
			f.conns = append(f.conns, q)
			f.mu.Unlock()
			go func() {
				defer conn.Close()
				for m := range q {
					if _, err := conn.Write(m); err != nil {
						return
					}
				}
			}()
		}
	}()
	go func() {
		for e := range f.in {
			m, _ := json.Marshal(e)
			m = append(m, '\n')
			f.mu.Lock()
			for _, q := range f.conns {
				select {
				case q <- m:
				default:
				}
			}
			f.mu.Unlock()
		}
	}()
	b.Cleanup(func() {
		ln.Close()
		close(f.in)
		f.mu.Lock()
		for _, q := range f.conns {
			close(q)
		}
		f.mu.Unlock()
	})
	return f
}

func (f *tcpFanOut) Publish(e protocol.Event) {
	select {
	case f.in <- e:
	default:
	}
}

func (f *tcpFanOut) clients() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns)
}

// BenchmarkEventFanOut: 100 clients watch a fleet of 1,000 nodes in which
// one check changes state every 10 ms, through the collector's real ingest.
// It reports the p50/p99 delivery latency (collector ingest to client
// read) and this process's CPU; the clients run in another process. The
// tcp-baseline case writes the same events as JSON lines to plain TCP.
func BenchmarkEventFanOut(b *testing.B) {
	const clients, nodes = 100, 1000
	for _, mode := range []string{"websocket", "tcp-baseline"} {
		b.Run(mode, func(b *testing.B) {
			var publish func(protocol.Event)
			c := newDirect(b, func(o *collector.Options) {
				o.Now = time.Now
				o.OnEvent = func(e protocol.Event) { publish(e) }
			})
			var helper string
			var connected func() int
			if mode == "websocket" {
				h := New(Options{Lookup: c.Target})
				runHub(b, h)
				mux := http.NewServeMux()
				c.Register(mux)
				mux.Handle("GET /api/v1/events", h.Handler())
				srv := httptest.NewServer(mux)
				b.Cleanup(srv.Close)
				publish = h.Publish
				helper = fmt.Sprintf("ws %s %d", wsURL(srv, ""), clients)
				connected = func() int { return h.Stats().Clients }
			} else {
				f := newTCPFanOut(b)
				publish = f.Publish
				helper = fmt.Sprintf("tcp %s %d", f.ln.Addr(), clients)
				connected = f.clients
			}
			now := time.Now()
			for i := range nodes {
				id := fmt.Sprintf("node-%04d", i)
				feedReg(b, c, registration(id, map[string]any{"ec2_placement_availability_zone": "eu-west-1a"}), now)
				feedResult(b, c, checkResult(id, "check_load", 0, now), now)
			}

			cmd := exec.Command(os.Args[0], "-test.run=^TestFanOutClientsHelper$", "-test.bench=^$", "-test.v")
			cmd.Env = append(os.Environ(), fanOutHelperEnv+"="+helper)
			out, err := cmd.StdoutPipe()
			if err != nil {
				b.Fatal(err)
			}
			cmd.Stderr = os.Stderr
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			lines := bufio.NewScanner(out)
			lines.Buffer(nil, 64<<20)
			for lines.Scan() && lines.Text() != "FANOUT-READY" {
			}
			eventually(b, 10*time.Second, func() error {
				if n := connected(); n != clients {
					return fmt.Errorf("%d of %d clients connected", n, clients)
				}
				return nil
			})

			var before, after syscall.Rusage
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
			start := time.Now()
			tick := time.NewTicker(10 * time.Millisecond)
			b.ResetTimer()
			i := 0
			for b.Loop() {
				<-tick.C
				id := fmt.Sprintf("node-%04d", i%nodes)
				at := time.Now()
				feedResult(b, c, checkResult(id, "check_load", (i/nodes+1)%2, at), at)
				i++
			}
			b.StopTimer()
			tick.Stop()
			wall := time.Since(start)
			_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
			publish(protocol.Event{Type: benchDone, Time: time.Now()})

			var lats []int64
			for lines.Scan() {
				if rest, ok := strings.CutPrefix(lines.Text(), "FANOUT-LATENCIES "); ok {
					if err := json.Unmarshal([]byte(rest), &lats); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := cmd.Wait(); err != nil {
				b.Fatalf("client process: %v", err)
			}
			if want := clients * i; len(lats) != want {
				b.Fatalf("clients received %d events, want %d (%d clients x %d state changes)", len(lats), want, clients, i)
			}
			slices.Sort(lats)
			cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
			b.ReportMetric(float64(lats[len(lats)/2])/1e6, "p50-ms")
			b.ReportMetric(float64(lats[len(lats)*99/100])/1e6, "p99-ms")
			b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu-%")
		})
	}
}

// TestHubRecentEvents: a client that asks for recent=N first gets the last
// N events that match its filter, oldest first, then live ones; the ring
// keeps only the last Recent events; a bad count is refused.
func TestHubRecentEvents(t *testing.T) {
	for _, tt := range []struct{ query, want string }{
		{"?recent=10", "2,3,4"}, // the ring holds 3
		{"?recent=2", "3,4"},
		{"?recent=10&filter=role%3Dweb", "3,4"}, // node events of other nodes left out
		{"", ""},
	} {
		c, h, srv, _ := hubServer(t, Options{Recent: 3})
		feedReg(t, c, registration("web1", map[string]any{"role": "web"}), t0)
		feedReg(t, c, registration("db1", map[string]any{"role": "db"}), t0)
		for _, e := range []protocol.Event{
			{Type: protocol.EventNodeDown, Identity: "web1", Message: "1"},
			{Type: protocol.EventNodeDown, Identity: "db1", Message: "2"},
			{Type: protocol.EventNodeUp, Identity: "web1", Message: "3"},
			{Type: protocol.EventAction, Message: "4"},
		} {
			h.Publish(e)
		}
		// Publish hands over to fan-out asynchronously: wait until the
		// last one went through.
		eventually(t, 5*time.Second, func() error {
			h.mu.Lock()
			n := len(h.recent)
			h.mu.Unlock()
			if n != 3 {
				return fmt.Errorf("%d events remembered", n)
			}
			return nil
		})
		conn := dial(t, wsURL(srv, tt.query), nil)
		waitClients(t, h, 1)
		// A live event after connecting marks the end of the backlog.
		h.Publish(protocol.Event{Type: protocol.EventAction, Message: "live"})
		var got []string
		for {
			var e protocol.Event
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			if err := conn.ReadJSON(&e); err != nil {
				t.Fatalf("%s: read: %v after %v", tt.query, err, got)
			}
			if e.Message == "live" {
				break
			}
			got = append(got, e.Message)
		}
		if strings.Join(got, ",") != tt.want {
			t.Errorf("%q: backlog %v, want %s", tt.query, got, tt.want)
		}
		if tt.query == "" {
			_, resp, err := websocket.DefaultDialer.Dial(wsURL(srv, "?recent=-1"), nil)
			if err == nil {
				t.Fatal("recent=-1 was accepted")
			}
			if got, want := respText(resp), `400 recent="-1": want a count of past events such as recent=50`; got != want {
				t.Errorf("recent=-1:\n got %s\nwant %s", got, want)
			}
		}
	}
}
