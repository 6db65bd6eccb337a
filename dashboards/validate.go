package dashboards

//lint:file-ignore SA1019 the v1 dashboard builder is deprecated for dashboardv2, which Grafana 12 still calls experimental and file provisioning cannot read (README, "Dashboards").

import (
	"errors"
	"fmt"
	"sync"

	"github.com/grafana/grafana-foundation-sdk/go/cog"
	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

var registerPlugins sync.Once

// Validate reads a dashboard's JSON the way Grafana's schema does: the
// SDK's strict decoder, which refuses unknown fields, required fields that
// are missing or null and values of the wrong type (panel options and
// queries included, through the SDK's registry of panel and datasource
// kinds), then the schema's own validation. Each problem is one line,
// with its JSON path.
func Validate(js []byte) error {
	registerPlugins.Do(plugins.RegisterDefaultPlugins)
	var d dashboard.Dashboard
	if err := sdkError(d.UnmarshalJSONStrict(js)); err != nil {
		return fmt.Errorf("the Grafana dashboard schema refuses it:\n%w", err)
	}
	if err := sdkError(d.Validate()); err != nil {
		return fmt.Errorf("the Grafana dashboard schema refuses it:\n%w", err)
	}
	return nil
}

// sdkError hides the SDK's habit of returning an empty list of errors as a
// non-nil error.
func sdkError(err error) error {
	var list cog.BuildErrors
	if errors.As(err, &list) && len(list) == 0 {
		return nil
	}
	return err
}
