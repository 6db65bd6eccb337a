package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/pulseops/pulse/internal/broker"
	"github.com/pulseops/pulse/internal/broker/brokertest"
	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/testkit"
)

// registration is node's heartbeat envelope, sent at t.
func registration(t testing.TB, node string, at time.Time, s *protocol.Signer, facts map[string]any) []byte {
	t.Helper()
	b, err := protocol.EncodeRegistration(&protocol.Registration{
		Identity: node, Time: at, Stream: protocol.Stream{Boot: "b", Seq: 1},
		RegistrationBody: protocol.RegistrationBody{Collective: "pulse", Facts: facts, Agents: []string{"rpcutil"}, Interval: 30},
	}, s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func dial(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := bus.Dial(bus.Config{URLs: []string{url}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func ensure(t testing.TB, nc *nats.Conn) {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Ensure(context.Background(), js, "pulse", 1); err != nil {
		t.Fatal(err)
	}
}

func read(t testing.TB, nc *nats.Conn, o ReadOptions) *Snapshot {
	t.Helper()
	s, err := Read(context.Background(), nc, "pulse", o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ids(s *Snapshot) string {
	var out []string
	for _, e := range s.Entries {
		out = append(out, e.Identity)
	}
	return strings.Join(out, ",")
}

// Registrations written with Put are read back whole, one entry per node,
// the newest value of a key winning, with their facts for filters.
func TestPutThenRead(t *testing.T) {
	nc := dial(t, brokertest.Start(t).ClientURL())
	ensure(t, nc)
	now := time.Now().UTC()
	for _, n := range []string{"web-02", "web-01", "db-01"} {
		if err := Put(nc, "pulse", n, registration(t, n, now, nil, map[string]any{"role": "old"}), TTL(30*time.Second), time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := Put(nc, "pulse", "web-01", registration(t, "web-01", now, nil, map[string]any{"role": "web"}), TTL(30*time.Second), time.Second); err != nil {
		t.Fatal(err)
	}
	s := read(t, nc, ReadOptions{})
	if ids(s) != "db-01,web-01,web-02" || len(s.Corrupt) != 0 || s.Stale != 0 {
		t.Fatalf("read %q, corrupt %v, stale %d", ids(s), s.Corrupt, s.Stale)
	}
	tg, err := s.Entries[1].Target()
	if err != nil || tg.Facts["role"] != "web" || tg.Identity != "web-01" || s.Entries[1].TTL != 90*time.Second {
		t.Fatalf("web-01: %+v %v ttl %s", tg, err, s.Entries[1].TTL)
	}
}

func TestTTLIsAFewHeartbeats(t *testing.T) {
	for in, want := range map[time.Duration]time.Duration{
		30 * time.Second: 90 * time.Second, 5 * time.Second: 15 * time.Second,
		1500 * time.Millisecond: 5 * time.Second, time.Millisecond: time.Second, 0: time.Second,
	} {
		if got := TTL(in); got != want {
			t.Errorf("TTL(%s) = %s, want %s", in, got, want)
		}
	}
}

// No bucket, an empty one, and a broker without JetStream: each is told
// apart, so a client can say why it falls back to broadcast.
func TestReadWithoutARegistry(t *testing.T) {
	nc := dial(t, brokertest.Start(t).ClientURL())
	if _, err := Read(context.Background(), nc, "pulse", ReadOptions{}); !errors.Is(err, ErrNoBucket) {
		t.Fatalf("no bucket: %v", err)
	}
	if err := Put(nc, "pulse", "web-01", registration(t, "web-01", time.Now(), nil, nil), time.Minute, time.Second); !errors.Is(err, ErrNoBucket) {
		t.Fatalf("put without a bucket: %v", err)
	}
	ensure(t, nc)
	if s := read(t, nc, ReadOptions{}); len(s.Entries) != 0 || len(s.Corrupt) != 0 {
		t.Fatalf("empty bucket: %+v", s)
	}
	plain, err := broker.Start(broker.Options{Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(plain.Shutdown)
	if _, err := Read(context.Background(), dial(t, plain.ClientURL()), "pulse", ReadOptions{}); !errors.Is(err, ErrNoBucket) {
		t.Fatalf("no JetStream: %v", err)
	}
}

// Values that are not a fresh registration of their own key's node are
// skipped and counted by reason; the good ones are read all the same.
func TestCorruptAndStaleValuesAreSkippedAndCounted(t *testing.T) {
	nc := dial(t, brokertest.Start(t).ClientURL())
	ensure(t, nc)
	now := time.Now().UTC()
	good, forger := mustSigner(t), mustSigner(t)
	put := func(key string, value []byte, ttl time.Duration) {
		t.Helper()
		if err := Put(nc, "pulse", key, value, ttl, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	put("ok-01", registration(t, "ok-01", now, good, nil), time.Minute)
	put("garbage", []byte("not json at all"), time.Minute)
	put("old-format", []byte(`{"identity":"old-format","facts":{}}`), time.Minute)
	put("v2", []byte(`{"pulse":2,"kind":"registration","from":"v2"}`), time.Minute)
	put("liar", registration(t, "ok-01", now, good, nil), time.Minute)
	put("forged", registration(t, "forged", now, forger, nil), time.Minute)
	put("stale", registration(t, "stale", now.Add(-10*time.Minute), good, nil), time.Minute)
	put("not-a-reg", mustReply(t, "not-a-reg"), time.Minute)
	keys := map[string]string{"ok-01": good.PublicKey(), "forged": good.PublicKey(), "stale": good.PublicKey(), "liar": good.PublicKey()}
	verify := func(env *protocol.Envelope) error {
		if keys[env.From] != env.Signer {
			return errors.New("signed by a key that is not the node's")
		}
		return env.Verify()
	}
	s := read(t, nc, ReadOptions{Verify: verify, Skew: time.Second})
	var got []string
	for _, c := range s.Corrupt {
		got = append(got, c.Key+":"+c.Reason)
	}
	want := "forged:forged,garbage:envelope,liar:forged,not-a-reg:kind,old-format:unversioned,v2:version"
	if ids(s) != "ok-01" || strings.Join(got, ",") != want || s.Stale != 1 {
		t.Fatalf("entries %q, corrupt %q (want %q), stale %d", ids(s), got, want, s.Stale)
	}
}

// The server removes a key its node stopped refreshing once its time to
// live has passed.
func TestAKeyExpiresAfterItsTTL(t *testing.T) {
	nc := dial(t, brokertest.Start(t).ClientURL())
	ensure(t, nc)
	if err := Put(nc, "pulse", "gone-01", registration(t, "gone-01", time.Now(), nil, nil), time.Second, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := Put(nc, "pulse", "kept-01", registration(t, "kept-01", time.Now(), nil, nil), time.Hour, time.Second); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "gone-01 to expire", func() bool { return ids(read(t, nc, ReadOptions{})) == "kept-01" })
	if k, err := Keys(context.Background(), nc, "pulse", time.Second); err != nil || strings.Join(k.Identities, ",") != "kept-01" {
		t.Fatalf("keys after gone-01 expired: %+v %v", k, err)
	}
}

// Keys lists who is registered without reading a value; a key that cannot
// be a node's is skipped and counted; no bucket, or no JetStream, is told.
func TestKeys(t *testing.T) {
	nc := dial(t, brokertest.Start(t).ClientURL())
	ctx := context.Background()
	if _, err := Keys(ctx, nc, "pulse", time.Second); !errors.Is(err, ErrNoBucket) {
		t.Fatalf("no bucket: %v", err)
	}
	ensure(t, nc)
	if k, err := Keys(ctx, nc, "pulse", time.Second); err != nil || len(k.Identities) != 0 || len(k.Corrupt) != 0 {
		t.Fatalf("empty bucket: %+v %v", k, err)
	}
	for _, n := range []string{"web-02", "web-01", "db-01"} {
		if err := Put(nc, "pulse", n, registration(t, n, time.Now(), nil, nil), time.Minute, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := Put(nc, "pulse", "two.tokens", []byte("x"), time.Minute, time.Second); err != nil {
		t.Fatal(err)
	}
	k, err := Keys(ctx, nc, "pulse", time.Second)
	if err != nil || strings.Join(k.Identities, ",") != "db-01,web-01,web-02" || len(k.Corrupt) != 1 || k.Corrupt[0].Key != "two.tokens" {
		t.Fatalf("keys: %+v %v", k, err)
	}
	plain, err := broker.Start(broker.Options{Port: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(plain.Shutdown)
	if _, err := Keys(ctx, dial(t, plain.ClientURL()), "pulse", time.Second); !errors.Is(err, ErrNoBucket) {
		t.Fatalf("no JetStream: %v", err)
	}
}

// A fleet larger than one answer is read in pages from where the server
// stopped.
func TestReadInPages(t *testing.T) {
	nc := dial(t, brokertest.Start(t).ClientURL())
	ensure(t, nc)
	defer func(n int) { pageSize = n }(pageSize)
	pageSize = 7
	var want []string
	for i := range 50 {
		n := fmt.Sprintf("node-%03d", i)
		want = append(want, n)
		if err := Put(nc, "pulse", n, registration(t, n, time.Now(), nil, nil), time.Minute, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if got := ids(read(t, nc, ReadOptions{})); got != strings.Join(want, ",") {
		t.Fatalf("read %q", got)
	}
}

// An existing bucket made as nats.go makes key-value buckets allows
// roll-ups, with which one node could purge every other node's key:
// Ensure turns them off and keeps the values.
func TestEnsureRefusesRollups(t *testing.T) {
	nc := dial(t, brokertest.Start(t).ClientURL())
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: Bucket("pulse"), LimitMarkerTTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	if changed, err := Ensure(ctx, js, "pulse", 1); err != nil || !changed {
		t.Fatalf("ensure over a nats.go bucket: changed %v, %v", changed, err)
	}
	if changed, err := Ensure(ctx, js, "pulse", 1); err != nil || changed {
		t.Fatalf("ensure again: changed %v, %v", changed, err)
	}
	s, err := js.Stream(ctx, Stream("pulse"))
	if err != nil {
		t.Fatal(err)
	}
	if c := s.CachedInfo().Config; c.AllowRollup || !c.AllowMsgTTL || !c.AllowDirect || c.MaxMsgsPerSubject != 1 {
		t.Fatalf("config after ensure: %+v", c)
	}
}

func mustSigner(t testing.TB) *protocol.Signer {
	t.Helper()
	s, err := protocol.GenerateSigner()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustReply(t testing.TB, node string) []byte {
	t.Helper()
	b, err := protocol.EncodeReply(&protocol.Reply{RequestID: "r1", Identity: node, Time: time.Now(), ReplyBody: protocol.ReplyBody{Agent: "rpcutil", Action: "ping"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
