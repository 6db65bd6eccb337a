package slo

import (
	"bytes"
	"testing"
)

// FuzzParseVector feeds Prometheus answers: an accepted vector has a value
// per sample; nothing panics.
func FuzzParseVector(f *testing.F) {
	for _, s := range []string{
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{"slo":"login"},"value":[1.5,"0.995"]}]}}`,
		`{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"NaN"]}]}}`,
		`{"status":"error","errorType":"bad_data","error":"parse error"}`,
		`{"status":"success","data":{"resultType":"matrix","result":[]}}`, `<html>`, `{"status":"success","data":{"resultType":"vector","result":[{"value":[1,2]}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := parseVector(bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(got) > len(b) {
			t.Fatalf("%d samples from %d bytes", len(got), len(b))
		}
	})
}
