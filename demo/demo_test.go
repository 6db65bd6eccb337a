package demo

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/bus"
	"github.com/pulseops/pulse/internal/filter"
	"github.com/pulseops/pulse/internal/protocol"
	"github.com/pulseops/pulse/internal/render"
	"github.com/pulseops/pulse/internal/rpc"
	"github.com/pulseops/pulse/internal/security"
)

// startFleet runs the demo fleet on a free port for one test.
func startFleet(t *testing.T, n int) (*Demo, *rpc.Client) {
	t.Helper()
	d, err := Start(context.Background(), Options{Nodes: n, Zones: []string{"eu-west-1a", "eu-west-1b"}, NATSPort: -1})
	if err != nil {
		t.Fatalf("start demo: %v", err)
	}
	t.Cleanup(d.Stop)
	return d, userClient(t, d)
}

// userConn logs in to the demo's broker as the demo's user, as the CLI
// does with the credentials the demo left for it.
func userConn(t *testing.T, d *Demo) *nats.Conn {
	t.Helper()
	nc, err := bus.Dial(bus.Config{URLs: []string{d.NATSURL()}, Credentials: bus.Credentials{CredsFile: d.Identity.UserCreds}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// userClient is the demo user's rpc client: requests signed with the
// credentials' key and carrying their JWT, replies believed from the
// subject the broker lets only their node publish on.
func userClient(t *testing.T, d *Demo) *rpc.Client {
	t.Helper()
	id, err := security.LoadCreds(d.Identity.UserCreds)
	if err != nil {
		t.Fatal(err)
	}
	return rpc.New(userConn(t, d), rpc.Options{Caller: "user=" + id.Name, Signer: id.Signer, JWT: id.JWT})
}

// TestDemoRefusesAnonymousLogins: nothing joins the demo's bus without the
// credentials it issued.
func TestDemoRefusesAnonymousLogins(t *testing.T) {
	d, _ := startFleet(t, 1)
	if _, err := nats.Connect(d.NATSURL(), nats.Timeout(3*time.Second)); !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("anonymous login: %v, want an authorization violation", err)
	}
}

func ids(res *rpc.Result) []string {
	var out []string
	for _, r := range res.Replies {
		out = append(out, r.Identity)
	}
	sort.Strings(out)
	return out
}

func TestFleetLayout(t *testing.T) {
	specs := Fleet(11, []string{"eu-west-1a", "eu-west-1b"})
	zones := map[string]int{}
	for _, s := range specs {
		zones[s.Zone]++
	}
	if zones["eu-west-1a"] != 6 || zones["eu-west-1b"] != 5 {
		t.Fatalf("zones = %v, want 6 and 5", zones)
	}
	if specs[2].Identity != "ip-10-0-1-12" || specs[2].Role != "web" {
		t.Fatalf("third node = %s/%s, want ip-10-0-1-12/web", specs[2].Identity, specs[2].Role)
	}
}

func TestPingAndFacts(t *testing.T) {
	_, cl := startFleet(t, 11)
	ctx := context.Background()
	res, err := cl.Do(ctx, rpc.Call{DiscoveryTimeout: 10 * time.Second, Quiet: time.Second, Agent: "rpcutil", Action: "ping"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 11 || !res.OK() {
		t.Fatalf("ping: %d replies (ok=%v), want 11", len(res.Replies), res.OK())
	}
	res, err = cl.Do(ctx, rpc.Call{DiscoveryTimeout: 10 * time.Second, Quiet: time.Second, Agent: "rpcutil", Action: "get_fact", Data: map[string]string{"fact": "ec2_placement_availability_zone"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, fc := range render.FactReport(res) {
		got[fc.Value] = fc.Count
	}
	if got["eu-west-1a"] != 6 || got["eu-west-1b"] != 5 || len(got) != 2 {
		t.Fatalf("fact report = %v, want eu-west-1a:6 eu-west-1b:5", got)
	}
	var b strings.Builder
	render.Facts(&b, "ec2_placement_availability_zone", res, false)
	for _, want := range []string{"Report for fact: ec2_placement_availability_zone", "eu-west-1a                               found 6 times", "Finished processing 11 / 11 hosts in "} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("facts output lacks %q:\n%s", want, b.String())
		}
	}
}

func TestEveryFilterForm(t *testing.T) {
	d, cl := startFleet(t, 11)
	all := map[string]NodeSpec{}
	for _, s := range d.Specs {
		all[s.Identity] = s
	}
	want := func(pred func(NodeSpec) bool) []string {
		var out []string
		for id, s := range all {
			if pred(s) {
				out = append(out, id)
			}
		}
		sort.Strings(out)
		return out
	}
	cases := []struct {
		name string
		spec filter.Spec
		want []string
	}{
		{"fact", filter.Spec{Fact: []string{"ec2_placement_availability_zone=eu-west-1b"}}, want(func(s NodeSpec) bool { return s.Zone == "eu-west-1b" })},
		{"fact not equal", filter.Spec{Fact: []string{"role!=web"}}, want(func(s NodeSpec) bool { return s.Role != "web" })},
		{"fact numeric", filter.Spec{Fact: []string{"processorcount>=4"}}, want(func(s NodeSpec) bool { return s.Facts["processorcount"].(float64) >= 4 })},
		{"fact regex", filter.Spec{Fact: []string{"hostname=~^ip-10-0-2-1[01]$"}}, []string{"ip-10-0-2-10", "ip-10-0-2-11"}},
		{"dotted fact", filter.Spec{Fact: []string{"os.release.major=12"}}, want(func(NodeSpec) bool { return true })},
		{"identity", filter.Spec{Identity: []string{"ip-10-0-1-12"}}, []string{"ip-10-0-1-12"}},
		{"identity regex", filter.Spec{Identity: []string{"/^ip-10-0-2-/"}}, want(func(s NodeSpec) bool { return s.Zone == "eu-west-1b" })},
		{"class", filter.Spec{Class: []string{"role::web"}}, want(func(s NodeSpec) bool { return s.Role == "web" })},
		{"agent", filter.Spec{Agent: []string{"rpcutil"}}, want(func(NodeSpec) bool { return true })},
		{"select", filter.Spec{Compound: "(role=web or cluster=beta) and not ec2_placement_availability_zone=eu-west-1a"},
			want(func(s NodeSpec) bool { return (s.Role == "web" || s.Cluster == "beta") && s.Zone != "eu-west-1a" })},
	}
	var with filter.Spec
	if err := with.AddWith("cluster=alfa role::web"); err != nil {
		t.Fatal(err)
	}
	cases = append(cases, struct {
		name string
		spec filter.Spec
		want []string
	}{"with", with, want(func(s NodeSpec) bool { return s.Cluster == "alfa" && s.Role == "web" })})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := cl.Do(context.Background(), rpc.Call{DiscoveryTimeout: 10 * time.Second, Quiet: time.Second, Agent: "rpcutil", Action: "ping", Filter: tc.spec})
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(res); strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Fatalf("selected %v, want %v", got, tc.want)
			}
		})
	}
}

func TestStoppedAgentIsNamed(t *testing.T) {
	d, cl := startFleet(t, 11)
	gone := d.Agents[3].Identity()
	d.Agents[3].Stop()
	var nodes []string
	for _, s := range d.Specs {
		nodes = append(nodes, s.Identity)
	}
	res, err := cl.Do(context.Background(), rpc.Call{DiscoveryTimeout: 10 * time.Second, Quiet: time.Second, Agent: "rpcutil", Action: "ping", Nodes: nodes, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 10 || len(res.NoResponse) != 1 || res.NoResponse[0] != gone || res.OK() {
		t.Fatalf("replies=%d no_response=%v ok=%v; want 10, [%s], false", len(res.Replies), res.NoResponse, res.OK(), gone)
	}
}

func TestGarbageLeavesAgentsAnswering(t *testing.T) {
	d, cl := startFleet(t, 3)
	nc := userConn(t, d) // what a user may publish, a user may publish junk on
	subj := protocol.Subjects{Collective: "pulse"}
	garbage := [][]byte{
		[]byte("not json"), []byte("{"), []byte(`{"id":1}`), []byte(`{"id":"x","agent":"rpcutil","action":"ping"}`),
		[]byte(`{"id":"y","agent":"rpcutil","action":"ping","time":"2000-01-01T00:00:00Z","ttl":60}`),
		[]byte(`{"id":"z","agent":"rpcutil","action":"ping","time":"` + time.Now().UTC().Format(time.RFC3339) + `","ttl":60,"filter":{"fact":["a=~("]}}`),
		make([]byte, 900*1024),
	}
	for _, g := range garbage {
		for _, s := range []string{subj.Agent("rpcutil", "user=demo"), subj.Node(d.Specs[0].Identity, "user=demo")} {
			if err := nc.PublishRequest(s, "_INBOX.garbage", g); err != nil {
				t.Fatal(err)
			}
		}
	}
	nc.Flush()
	res, err := cl.Do(context.Background(), rpc.Call{DiscoveryTimeout: 10 * time.Second, Quiet: time.Second, Agent: "rpcutil", Action: "ping"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 3 {
		t.Fatalf("after garbage: %d replies, want 3", len(res.Replies))
	}
	if errs := d.Agents[0].Stats().Errors.Load() + d.Agents[0].Stats().TTLExpired.Load(); errs < uint64(len(garbage)) {
		t.Fatalf("agent counted %d bad messages, want at least %d", errs, len(garbage))
	}
}

func TestRPCUtilActions(t *testing.T) {
	d, cl := startFleet(t, 2)
	id := d.Specs[0].Identity
	ctx := context.Background()
	check := func(action string, data any, key string) map[string]any {
		t.Helper()
		res, err := cl.Do(ctx, rpc.Call{DiscoveryTimeout: 10 * time.Second, Quiet: time.Second, Agent: "rpcutil", Action: action, Data: data, Nodes: []string{id}})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Replies) != 1 || res.Replies[0].Status != protocol.OK {
			t.Fatalf("%s: %+v", action, res)
		}
		m := res.Replies[0].DataMap()
		if _, ok := m[key]; !ok {
			t.Fatalf("%s reply lacks %q: %v", action, key, m)
		}
		return m
	}
	if m := check("get_fact", map[string]string{"fact": "os.name"}, "value"); m["value"] != "debian" {
		t.Fatalf("get_fact os.name = %v", m["value"])
	}
	check("get_facts", map[string]string{"facts": "role,cluster"}, "values")
	check("inventory", nil, "facts")
	check("agent_inventory", nil, "agents")
	if m := check("daemon_stats", nil, "requests"); m["requests"].(float64) < 1 {
		t.Fatalf("daemon_stats requests = %v", m["requests"])
	}
	res, err := cl.Do(ctx, rpc.Call{DiscoveryTimeout: 10 * time.Second, Quiet: time.Second, Agent: "rpcutil", Action: "nosuch", Nodes: []string{id}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Replies) != 1 || res.Replies[0].Status != protocol.UnknownAction {
		t.Fatalf("unknown action: %+v", res)
	}
}
