package web

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pulseops/pulse/collector/api"
	"github.com/pulseops/pulse/collector/collectortest"
)

func TestViewGroupsByZoneAndFilters(t *testing.T) {
	c := collectortest.Direct(t, nil)
	mux := http.NewServeMux()
	Register(mux, c)
	for i, f := range []map[string]any{
		{"ec2_placement_availability_zone": "eu-west-1b", "role": "web"},
		{"ec2_placement_availability_zone": "eu-west-1a", "role": "web"},
		{"ec2_placement_availability_zone": "eu-west-1a", "role": "db"},
		{"role": "db"},
	} {
		id := fmt.Sprintf("n%d", i)
		collectortest.FeedReg(t, c, collectortest.Registration(id, f), collectortest.T0)
		collectortest.FeedResult(t, c, collectortest.CheckResult(id, "check_load", i%4, collectortest.T0), collectortest.T0)
	}
	tests := []struct {
		query string
		code  int
		want  string // zone:identity=state ... or the error
	}{
		{"", 200, "eu-west-1a:n1=WARNING,n2=CRITICAL eu-west-1b:n0=OK :n3=UNKNOWN"},
		{"?filter=role%3Dweb", 200, "eu-west-1a:n1=WARNING eu-west-1b:n0=OK"},
		{"?filter=role%3Ddb&identity=n3", 200, ":n3=UNKNOWN"},
		{"?select=role%3Dweb+or+ec2_placement_availability_zone%3Deu-west-1a", 200, "eu-west-1a:n1=WARNING,n2=CRITICAL eu-west-1b:n0=OK"},
		{"?filter=role%3Dnone", 200, ""},
		{"?filter=role%3D%3D%3D", 400, `bad filter: with filter "role===": unknown operator "===" (use one of = == != < > <= >= =~) at column 5`},
		{"?select=(role%3Dweb", 400, `bad filter: select "(role=web": unclosed "(" at column 1`},
	}
	for _, tt := range tests {
		var raw map[string]any
		var view api.FleetView
		code := getJSON(t, mux, "/api/v1/view"+tt.query, &raw)
		if code != tt.code {
			t.Errorf("%s: %d %v, want %d", tt.query, code, raw, tt.code)
			continue
		}
		if code != 200 {
			if raw["error"] != tt.want {
				t.Errorf("%s:\n got %q\nwant %q", tt.query, raw["error"], tt.want)
			}
			continue
		}
		getJSON(t, mux, "/api/v1/view"+tt.query, &view)
		var zones []string
		for _, z := range view.Zones {
			var rows []string
			for _, n := range z.Nodes {
				rows = append(rows, n.Identity+"="+n.Checks[0].State)
			}
			zones = append(zones, z.Zone+":"+strings.Join(rows, ","))
		}
		if got := strings.Join(zones, " "); got != tt.want || view.Total != 4 {
			t.Errorf("%s: got %q (total %d), want %q", tt.query, got, view.Total, tt.want)
		}
	}
}

func getJSON(t testing.TB, h http.Handler, path string, v any) int {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	if v != nil {
		body, _ := io.ReadAll(rec.Body)
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %d, body %q: %v", path, rec.Code, body, err)
		}
	}
	return rec.Code
}
