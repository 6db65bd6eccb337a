package dashboards

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
)

// TestCommittedDashboardsPassSchema decodes every committed dashboard with
// the SDK's strict decoder and runs the schema's validation, as Grafana's
// own schema would read the file it provisions.
func TestCommittedDashboardsPassSchema(t *testing.T) {
	files, err := filepath.Glob("json/*.json")
	if err != nil || len(files) < 3 {
		t.Fatalf("found %v (%v), want the three committed dashboards", files, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := Validate(b); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestValidateRefuses: what the schema refuses fails with the JSON path and
// the reason, including the table footer the fleet dashboard once had.
func TestValidateRefuses(t *testing.T) {
	fleet, err := os.ReadFile("json/pulse-fleet.json")
	if err != nil {
		t.Fatal(err)
	}
	nullReducer := strings.Replace(string(fleet), `"reducer": []`, `"reducer": null`, 1)
	if nullReducer == string(fleet) {
		t.Fatal("the fleet dashboard has no table footer reducer to break")
	}
	for _, tc := range []struct{ name, js, want string }{
		{"null footer reducer", nullReducer, ".options.footer.reducer: required field is null"},
		{"unknown field", `{"title":"x","schemaVersion":41,"unknownField":1}`, "unknownField"},
		{"wrong type", `{"title":7,"schemaVersion":41}`, "title"},
		{"not JSON", `{`, "unexpected end of JSON input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate([]byte(tc.js))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestSDKErrorEmptyList: the SDK returns an empty error list as a non-nil
// error; that is no error.
func TestSDKErrorEmptyList(t *testing.T) {
	var empty cog.BuildErrors
	var err error = empty
	//lint:ignore SA4023 the point of the test: a typed nil list is a non-nil error
	if err == nil {
		t.Fatal("the typed nil should be a non-nil error, as the SDK returns it")
	}
	if got := sdkError(err); got != nil {
		t.Fatalf("sdkError(empty list) = %v, want nil", got)
	}
	one := cog.BuildErrors{{Path: "title", Message: "bad"}}
	if got := sdkError(one); got == nil || got.Error() != "title: bad" {
		t.Fatalf("sdkError(one) = %v", got)
	}
}
