package probes

import (
	"context"
	"encoding/binary"
	"net"
	"os"
	"strings"
	"testing"
)

// dnsServer is a tiny authoritative UDP DNS responder for tests: it answers
// A and TXT questions from fixed tables and NXDOMAIN for anything else, so
// dns probes are tested without the internet.
type dnsServer struct {
	a   map[string][]net.IP
	txt map[string][]string
}

func (s *dnsServer) start(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			if resp := s.answer(buf[:n]); resp != nil {
				pc.WriteTo(resp, from)
			}
		}
	}()
	return pc.LocalAddr().String()
}

// answer builds the reply to one query, or nil for garbage.
func (s *dnsServer) answer(q []byte) []byte {
	if len(q) < 12 {
		return nil
	}
	// Walk the question name: length-prefixed labels ending in 0.
	i, labels := 12, []string{}
	for i < len(q) && q[i] != 0 {
		l := int(q[i])
		if i+1+l > len(q) {
			return nil
		}
		labels = append(labels, string(q[i+1:i+1+l]))
		i += 1 + l
	}
	if i+5 > len(q) {
		return nil
	}
	qEnd := i + 5 // zero byte, type, class
	qtype := binary.BigEndian.Uint16(q[i+1:])
	name := strings.ToLower(strings.Join(labels, ".")) + "."

	var rdatas [][]byte
	_, knownA := s.a[name]
	_, knownTXT := s.txt[name]
	switch qtype {
	case 1: // A
		for _, ip := range s.a[name] {
			rdatas = append(rdatas, ip.To4())
		}
	case 16: // TXT
		for _, txt := range s.txt[name] {
			rdatas = append(rdatas, append([]byte{byte(len(txt))}, txt...))
		}
	}
	resp := make([]byte, 12, 512)
	copy(resp, q[:2])                            // id
	binary.BigEndian.PutUint16(resp[2:], 0x8580) // QR, AA, RD, RA, NOERROR
	if !knownA && !knownTXT {
		binary.BigEndian.PutUint16(resp[2:], 0x8583) // NXDOMAIN
	}
	binary.BigEndian.PutUint16(resp[4:], 1)
	binary.BigEndian.PutUint16(resp[6:], uint16(len(rdatas)))
	resp = append(resp, q[12:qEnd]...)
	for _, rd := range rdatas {
		resp = append(resp, 0xc0, 12) // pointer to the question name
		resp = binary.BigEndian.AppendUint16(resp, qtype)
		resp = binary.BigEndian.AppendUint16(resp, 1) // IN
		resp = binary.BigEndian.AppendUint32(resp, 60)
		resp = binary.BigEndian.AppendUint16(resp, uint16(len(rd)))
		resp = append(resp, rd...)
	}
	return resp
}

func TestDNSProbe(t *testing.T) {
	srv := (&dnsServer{
		a:   map[string][]net.IP{"shop.example.": {net.ParseIP("10.0.0.7"), net.ParseIP("10.0.0.8")}},
		txt: map[string][]string{"shop.example.": {"v=spf1 -all"}},
	}).start(t)
	tests := []struct {
		name, spec, want string
	}{
		{name: "a record", spec: `target: shop.example.
dns: {server: "${dns}", answer_regex: '^10\.0\.0\.8$'}`},
		{name: "txt record", spec: `target: shop.example.
dns: {server: "${dns}", record: txt, answer_regex: spf1}`},
		{name: "any answer", spec: `target: shop.example.
dns: {server: "${dns}"}`},
		{
			name: "no match", spec: `target: shop.example.
dns: {server: "${dns}", answer_regex: '^192\.'}`,
			want: `resolve: A shop.example. via DNS: no answer matched "^192\\." (answers: 10.0.0.7, 10.0.0.8)`,
		},
		{
			name: "nxdomain", spec: `target: nope.example.
dns: {server: "${dns}"}`,
			want: "resolve: A nope.example. via DNS: no such host",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Parse("dns.yaml", []byte("name: d\ntype: dns\ntimeout: 5s\nvars: {dns: ''}\n"+tt.spec))
			if err != nil {
				t.Fatal(err)
			}
			res := Run(context.Background(), p.WithVars(map[string]string{"dns": srv}))
			got := strings.ReplaceAll(res.Error, srv, "DNS")
			if res.Success != (tt.want == "") || got != tt.want || len(res.Steps) != 1 || res.Steps[0].Phases["dns"] <= 0 {
				t.Fatalf("result %+v\n got error: %s\nwant error: %s", res, got, tt.want)
			}
		})
	}
}

func TestDNSProbeSystemResolver(t *testing.T) {
	if _, err := os.Stat("/etc/hosts"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs /etc/hosts for the system resolver test: %v", err)
		}
		t.Skipf("no /etc/hosts: %v", err)
	}
	p, err := Parse("dns.yaml", []byte("name: d\ntype: dns\ntarget: localhost\ndns: {answer_regex: '^127\\.'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if res := Run(context.Background(), p); !res.Success {
		t.Fatalf("localhost via the system resolver: %+v", res)
	}
}
