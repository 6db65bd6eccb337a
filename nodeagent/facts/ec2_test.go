package facts

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pulseops/pulse/internal/testkit"
)

// imds is a small instance-metadata service. In v2 mode it hands out
// tokens on PUT and rejects GETs without a valid one (401), as EC2 does with
// HttpTokens=required; in v1 mode the token endpoint answers tokenStatus.
type imds struct {
	v1          bool
	tokenStatus int
	data        map[string]string

	mu       sync.Mutex
	tokens   map[string]bool
	issued   int
	requests []string
}

func (m *imds) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests = append(m.requests, r.Method+" "+r.URL.Path)
	if r.URL.Path == "/latest/api/token" {
		if m.v1 {
			w.WriteHeader(m.tokenStatus)
			return
		}
		if r.Method != http.MethodPut || r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds") == "" {
			http.Error(w, "bad token request", http.StatusBadRequest)
			return
		}
		m.issued++
		tok := "tok-" + string(rune('a'+m.issued))
		if m.tokens == nil {
			m.tokens = map[string]bool{}
		}
		m.tokens[tok] = true
		w.Write([]byte(tok))
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "method", http.StatusMethodNotAllowed)
		return
	}
	if !m.v1 && !m.tokens[r.Header.Get("X-aws-ec2-metadata-token")] {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	v, ok := m.data[strings.TrimPrefix(r.URL.Path, "/latest/meta-data/")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Write([]byte(v))
}

// expireTokens simulates the service forgetting every token it issued.
func (m *imds) expireTokens() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.tokens = nil
}

func (m *imds) requestCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.requests)
}

func instanceData() map[string]string {
	return map[string]string{
		"instance-id":                 "i-0abc123",
		"instance-type":               "t3.micro",
		"ami-id":                      "ami-0def456",
		"placement/availability-zone": "eu-west-1a",
		"placement/region":            "eu-west-1",
		"local-ipv4":                  "10.0.1.23",
		"local-hostname":              "ip-10-0-1-23.eu-west-1.compute.internal",
		"public-ipv4":                 "203.0.113.9",
		"ami-launch-index":            "0",
		"ami-manifest-path":           "(unknown)",
		"security-groups":             "web\nssh-from-bastion",
		"public-keys/0/openssh-key":   "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB6C ops",
	}
}

var wantEC2 = map[string]any{
	"ec2_instance_id":                 "i-0abc123",
	"ec2_instance_type":               "t3.micro",
	"ec2_ami_id":                      "ami-0def456",
	"ec2_placement_availability_zone": "eu-west-1a",
	"ec2_placement_region":            "eu-west-1",
	"ec2_local_ipv4":                  "10.0.1.23",
	"ec2_local_hostname":              "ip-10-0-1-23.eu-west-1.compute.internal",
	"ec2_public_ipv4":                 "203.0.113.9",
	"ec2_ami_launch_index":            "0",
	"ec2_ami_manifest_path":           "(unknown)",
	"ec2_security_groups":             "web,ssh-from-bastion",
	"ec2_public_keys_0_openssh_key":   "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB6C ops",
}

func TestEC2IMDSv2(t *testing.T) {
	m := &imds{data: instanceData()}
	srv := httptest.NewServer(m)
	defer srv.Close()
	e := NewEC2(EC2Options{BaseURL: srv.URL + "/", Timeout: 5 * time.Second})

	got, err := e.Gather(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, wantEC2) {
		t.Errorf("got  %v\nwant %v", got, wantEC2)
	}
	if m.requests[0] != "PUT /latest/api/token" || m.issued != 1 {
		t.Errorf("requests %v, %d tokens issued; want one PUT first", m.requests, m.issued)
	}

	// The token is reused, and a token the service no longer honours is
	// replaced once rather than failing the gather.
	m.expireTokens()
	if _, err := e.Gather(context.Background()); err != nil {
		t.Fatal(err)
	}
	if m.issued != 2 {
		t.Errorf("%d tokens issued after expiry, want 2", m.issued)
	}
}

func TestEC2FallsBackToIMDSv1(t *testing.T) {
	for _, status := range []int{http.StatusForbidden, http.StatusNotFound, http.StatusMethodNotAllowed} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			data := instanceData()
			delete(data, "public-ipv4")
			delete(data, "placement/region")
			srv := httptest.NewServer(&imds{v1: true, tokenStatus: status, data: data})
			defer srv.Close()
			got, err := NewEC2(EC2Options{BaseURL: srv.URL}).Gather(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]any{}
			for k, v := range wantEC2 {
				want[k] = v
			}
			delete(want, "ec2_public_ipv4") // absent on a private instance
			// ec2_placement_region derived from the zone.
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %v\nwant %v", got, want)
			}
		})
	}
}

func TestEC2Errors(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		err     string
	}{
		{"token refused with 500", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", http.StatusInternalServerError)
		}, "put token: HTTP 500: boom"},
		{"not an instance", func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPut {
				w.Write([]byte("t"))
				return
			}
			http.NotFound(w, r)
		}, "get instance-id: not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			_, err := NewEC2(EC2Options{BaseURL: srv.URL}).Gather(context.Background())
			want := "ec2 metadata at " + srv.URL + " (retrying after 10m0s): " + tc.err
			if err == nil || err.Error() != want {
				t.Errorf("error = %v, want %q", err, want)
			}
		})
	}
}

// TestEC2UnreachableBacksOff uses a listener that accepts connections and
// never answers, the way a filtered 169.254.169.254 behaves off EC2.
func TestEC2UnreachableBacksOff(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			defer c.Close()
		}
	}()

	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	e := NewEC2(EC2Options{BaseURL: "http://" + ln.Addr().String(), Timeout: 100 * time.Millisecond})
	e.now = func() time.Time { return now }

	_, err = e.Gather(context.Background())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("first gather: error %v, want one wrapping context.DeadlineExceeded", err)
	}
	// The kernel completes the connection before the listener's goroutine
	// gets to Accept it: wait for the count rather than read it at once.
	testkit.WaitFor(t, 10*time.Second, "the first gather's connection", func() bool { return accepted.Load() > 0 })
	first := accepted.Load()

	// Within the back-off no connection is made and the cause is kept.
	now = now.Add(9 * time.Minute)
	_, err = e.Gather(context.Background())
	if err == nil || !strings.Contains(err.Error(), "is off until 2025-01-01T00:10:00Z") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second gather: error %v, want the back-off error wrapping the first cause", err)
	}
	if n := accepted.Load(); n != first {
		t.Errorf("connections went from %d to %d during back-off", first, n)
	}

	// After it, the source tries again.
	now = now.Add(2 * time.Minute)
	if _, err = e.Gather(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("third gather: error %v, want a fresh timeout", err)
	}
	testkit.WaitFor(t, 10*time.Second, "a new connection after the back-off", func() bool { return accepted.Load() > first })
}

func TestEC2RecoversAfterBackoff(t *testing.T) {
	m := &imds{data: instanceData()}
	srv := httptest.NewServer(m)
	defer srv.Close()
	fail := true
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	e := NewEC2(EC2Options{BaseURL: srv.URL, RetryAfter: time.Minute, Client: &http.Client{
		Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if fail {
				return nil, errors.New("network is unreachable")
			}
			return http.DefaultTransport.RoundTrip(r)
		}),
	}})
	e.now = func() time.Time { return now }
	if _, err := e.Gather(context.Background()); err == nil {
		t.Fatal("want an error while the network is down")
	}
	fail = false
	if _, err := e.Gather(context.Background()); err == nil {
		t.Fatal("want the back-off error within RetryAfter")
	}
	if n := m.requestCount(); n != 0 {
		t.Fatalf("%d requests reached the service during back-off", n)
	}
	now = now.Add(time.Minute)
	got, err := e.Gather(context.Background())
	if err != nil || got["ec2_instance_id"] != "i-0abc123" {
		t.Fatalf("after back-off: %v, %v", got, err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
