package api

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"
)

// Duration is a time.Duration that travels in JSON as Go writes durations
// ("1s", "1m30s"); a bare number is seconds, as mco takes them. It is
// parsed once, as the request is decoded.
type Duration time.Duration

// MarshalJSON writes d as "1m30s".
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads "1m30s" or a number of seconds; negative durations
// are refused.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var v time.Duration
	var err error
	if s, uerr := strconv.Unquote(string(b)); uerr == nil {
		v, err = time.ParseDuration(s)
	} else {
		var secs float64
		if err = json.Unmarshal(b, &secs); err == nil {
			v = time.Duration(secs * float64(time.Second))
		}
	}
	if err != nil || v < 0 {
		// A type error, so encoding/json names the field it was in.
		return &json.UnmarshalTypeError{Value: fmt.Sprintf("%s (want a duration such as \"1s\")", b), Type: reflect.TypeFor[Duration]()}
	}
	*d = Duration(v)
	return nil
}
