package facts

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
)

// netIface is what the network facts need of one interface, whichever way
// it was read.
type netIface struct {
	name     string
	mac      string
	mtu      int
	up       bool
	loopback bool
	addrs    []netip.Prefix
}

// network sets interfaces, ipaddress and ipaddress6. ipaddress is the first
// usable IPv4 address of the default-route interface (falling back to the
// other up, non-loopback interfaces in name order), as facter picks it.
func (s *System) network(f map[string]any) error {
	var (
		ifs []netIface
		err error
	)
	if s.rooted {
		ifs, err = s.procInterfaces()
	} else {
		ifs, err = liveInterfaces()
	}
	if err != nil {
		return fmt.Errorf("interfaces: %w", err)
	}
	slices.SortFunc(ifs, func(a, b netIface) int { return strings.Compare(a.name, b.name) })

	all := map[string]any{}
	for _, ifc := range ifs {
		m := map[string]any{"mtu": float64(ifc.mtu), "up": ifc.up}
		if ifc.mac != "" && ifc.mac != "00:00:00:00:00:00" {
			m["mac"] = ifc.mac
		}
		bindings := []any{}
		for _, p := range ifc.addrs {
			bindings = append(bindings, p.String())
		}
		m["bindings"] = bindings
		// Per interface, prefer an address others can reach over a
		// link-local one, but show the link-local one if it is all there is.
		if ip := firstAddr(ifc.addrs, netip.Addr.Is4); ip != "" {
			m["ip"] = ip
		}
		if ip := firstAddr(ifc.addrs, func(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }); ip != "" {
			m["ip6"] = ip
		}
		all[ifc.name] = m
	}
	f["interfaces"] = all

	// Candidates in order: the default-route interface, then the rest.
	def := s.defaultRouteIface()
	order := slices.Clone(ifs)
	slices.SortStableFunc(order, func(a, b netIface) int {
		switch {
		case a.name == def && b.name != def:
			return -1
		case b.name == def && a.name != def:
			return 1
		}
		return 0
	})
	if ip := pickAddr(order, func(a netip.Addr) bool { return a.Is4() && !a.IsLoopback() && !a.IsLinkLocalUnicast() }); ip != "" {
		f["ipaddress"] = ip
	}
	if ip := pickAddr(order, func(a netip.Addr) bool { return a.Is6() && !a.Is4In6() && a.IsGlobalUnicast() }); ip != "" {
		f["ipaddress6"] = ip
	}
	return nil
}

// firstAddr is the first address of the family that is not link-local,
// else the first of the family at all.
func firstAddr(addrs []netip.Prefix, family func(netip.Addr) bool) string {
	fallback := ""
	for _, p := range addrs {
		a := p.Addr()
		if !family(a) {
			continue
		}
		if !a.IsLinkLocalUnicast() {
			return a.String()
		}
		if fallback == "" {
			fallback = a.String()
		}
	}
	return fallback
}

func pickAddr(ifs []netIface, ok func(netip.Addr) bool) string {
	for _, ifc := range ifs {
		if !ifc.up || ifc.loopback {
			continue
		}
		for _, p := range ifc.addrs {
			if ok(p.Addr()) {
				return p.Addr().String()
			}
		}
	}
	return ""
}

// liveInterfaces asks the running kernel through the standard library.
func liveInterfaces() ([]netIface, error) {
	list, err := net.Interfaces()
	if err != nil {
		return nil, err
	}
	out := make([]netIface, 0, len(list))
	for _, li := range list {
		ifc := netIface{
			name:     li.Name,
			mac:      li.HardwareAddr.String(),
			mtu:      li.MTU,
			up:       li.Flags&net.FlagUp != 0,
			loopback: li.Flags&net.FlagLoopback != 0,
		}
		addrs, err := li.Addrs()
		if err != nil {
			return nil, fmt.Errorf("addresses of %s: %w", li.Name, err)
		}
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			addr, ok := netip.AddrFromSlice(ipn.IP)
			if !ok {
				continue
			}
			ones, _ := ipn.Mask.Size()
			ifc.addrs = append(ifc.addrs, netip.PrefixFrom(addr.Unmap(), ones))
		}
		out = append(out, ifc)
	}
	return out, nil
}

// Interface flags as sysfs prints them (linux/if.h).
const (
	iffUp       = 0x1
	iffLoopback = 0x8
)

// procInterfaces reads interfaces from Root/sys/class/net, IPv6 addresses
// from Root/proc/net/if_inet6 and IPv4 addresses from Root/proc/net/fib_trie
// matched to interfaces through Root/proc/net/route; procfs has no simpler
// per-interface IPv4 listing.
func (s *System) procInterfaces() ([]netIface, error) {
	dir := s.path("sys", "class", "net")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []netIface
	byName := map[string]int{}
	for _, e := range entries {
		name := e.Name()
		ifc := netIface{name: name}
		ifc.mac, _ = s.readTrim("sys", "class", "net", name, "address")
		if v, err := s.readTrim("sys", "class", "net", name, "mtu"); err == nil {
			ifc.mtu, _ = strconv.Atoi(v)
		}
		if v, err := s.readTrim("sys", "class", "net", name, "flags"); err == nil {
			fl, _ := strconv.ParseUint(strings.TrimPrefix(v, "0x"), 16, 32)
			ifc.up = fl&iffUp != 0
			ifc.loopback = fl&iffLoopback != 0
		}
		byName[name] = len(out)
		out = append(out, ifc)
	}

	if b, err := os.ReadFile(s.path("proc", "net", "fib_trie")); err == nil {
		routes := parseRoutes(s.readFileOrEmpty("proc", "net", "route"))
		for _, ip := range parseFibTrieLocal(b) {
			name, bitsLen := "", 0
			for _, r := range routes {
				if r.gateway.IsUnspecified() && r.prefix.Bits() > 0 && r.prefix.Contains(ip) && r.prefix.Bits() >= bitsLen {
					name, bitsLen = r.iface, r.prefix.Bits()
				}
			}
			// Loopback addresses live only in the local table.
			if name == "" && ip.IsLoopback() {
				for _, ifc := range out {
					if ifc.loopback {
						name, bitsLen = ifc.name, 8
						break
					}
				}
			}
			if i, ok := byName[name]; ok {
				out[i].addrs = append(out[i].addrs, netip.PrefixFrom(ip, bitsLen))
			}
		}
	}
	if b, err := os.ReadFile(s.path("proc", "net", "if_inet6")); err == nil {
		for _, a := range parseIfInet6(b) {
			if i, ok := byName[a.iface]; ok {
				out[i].addrs = append(out[i].addrs, a.prefix)
			}
		}
	}
	return out, nil
}

func (s *System) readFileOrEmpty(elem ...string) []byte {
	b, _ := os.ReadFile(s.path(elem...))
	return b
}

// defaultRouteIface is the interface of the IPv4 default route, "" if none.
func (s *System) defaultRouteIface() string {
	for _, r := range parseRoutes(s.readFileOrEmpty("proc", "net", "route")) {
		if r.prefix.Bits() == 0 {
			return r.iface
		}
	}
	return ""
}

type route struct {
	iface   string
	prefix  netip.Prefix
	gateway netip.Addr
}

// parseRoutes reads /proc/net/route. Addresses there are the kernel's
// network-order words printed as host integers, hence NativeEndian.
func parseRoutes(b []byte) []route {
	var out []route
	for i, line := range strings.Split(string(b), "\n") {
		fs := strings.Fields(line)
		if i == 0 || len(fs) < 8 {
			continue
		}
		dst, ok1 := hexIPv4(fs[1])
		gw, ok2 := hexIPv4(fs[2])
		mask, ok3 := hexIPv4(fs[7])
		if !ok1 || !ok2 || !ok3 {
			continue
		}
		m := mask.As4()
		ones := bits.OnesCount32(binary.BigEndian.Uint32(m[:]))
		p, err := dst.Prefix(ones)
		if err != nil {
			continue
		}
		out = append(out, route{iface: fs[0], prefix: p, gateway: gw})
	}
	return out
}

func hexIPv4(s string) (netip.Addr, bool) {
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return netip.Addr{}, false
	}
	var b [4]byte
	binary.NativeEndian.PutUint32(b[:], uint32(v))
	return netip.AddrFrom4(b), true
}

// parseFibTrieLocal returns the node's own IPv4 addresses: the leaves of
// /proc/net/fib_trie marked "/32 host LOCAL", each once, in file order.
func parseFibTrieLocal(b []byte) []netip.Addr {
	var (
		out  []netip.Addr
		last netip.Addr
		seen = map[netip.Addr]bool{}
	)
	for _, line := range strings.Split(string(b), "\n") {
		t := strings.TrimSpace(line)
		if leaf, ok := strings.CutPrefix(t, "|-- "); ok {
			last, _ = netip.ParseAddr(leaf)
			continue
		}
		if strings.HasPrefix(t, "/32 host LOCAL") && last.Is4() && !seen[last] {
			seen[last] = true
			out = append(out, last)
		}
	}
	return out
}

type inet6Addr struct {
	iface  string
	prefix netip.Prefix
}

// parseIfInet6 reads /proc/net/if_inet6: address (32 hex digits), ifindex,
// prefix length (hex), scope, flags, interface name.
func parseIfInet6(b []byte) []inet6Addr {
	var out []inet6Addr
	for _, line := range strings.Split(string(b), "\n") {
		fs := strings.Fields(line)
		if len(fs) < 6 || len(fs[0]) != 32 {
			continue
		}
		raw, err := hex.DecodeString(fs[0])
		if err != nil {
			continue
		}
		plen, err := strconv.ParseUint(fs[2], 16, 8)
		if err != nil || plen > 128 {
			continue
		}
		addr := netip.AddrFrom16([16]byte(raw))
		out = append(out, inet6Addr{iface: fs[5], prefix: netip.PrefixFrom(addr, int(plen))})
	}
	return out
}
