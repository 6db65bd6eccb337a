package rpc

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
)

// Count is how many of a set of nodes: N of them, or N percent (rounded
// up, so a batch is never empty). It is parsed once, where it enters — a
// flag, a config value, a JSON body — and the zero Count means no bound.
type Count struct {
	n       int
	percent float64
}

// Nodes is a count of n nodes.
func Nodes(n int) Count { return Count{n: n} }

// Percent is a count of p percent of the nodes, 0 < p <= 100.
func Percent(p float64) Count { return Count{percent: p} }

// ParseCount reads "N" or "N%".
func ParseCount(s string) (Count, error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || !(f > 0 && f <= 100) {
			return Count{}, fmt.Errorf("%q is not a percentage between 0 and 100", s)
		}
		return Count{percent: f}, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		return Count{}, fmt.Errorf("%q is not a positive number or percentage", s)
	}
	return Count{n: n}, nil
}

// IsZero reports whether c sets no bound.
func (c Count) IsZero() bool { return c == Count{} }

// Of is how many of total nodes c is: at most total, at least 1 of a
// non-empty set.
func (c Count) Of(total int) int {
	n := c.n
	if c.percent > 0 {
		n = int(math.Ceil(c.percent / 100 * float64(total)))
	}
	return n
}

// String is "N" or "N%", as ParseCount reads it; "" for the zero Count.
func (c Count) String() string {
	switch {
	case c.percent > 0:
		return strconv.FormatFloat(c.percent, 'f', -1, 64) + "%"
	case c.n > 0:
		return strconv.Itoa(c.n)
	}
	return ""
}

// Set and Type make a Count a command-line flag (pflag.Value).
func (c *Count) Set(s string) error {
	v, err := ParseCount(s)
	if err != nil {
		return err
	}
	*c = v
	return nil
}

// Type names the flag's value in help text.
func (c *Count) Type() string { return "N|N%" }

// MarshalJSON writes N as a number and N% as a string.
func (c Count) MarshalJSON() ([]byte, error) {
	if c.percent > 0 {
		return json.Marshal(c.String())
	}
	return json.Marshal(c.n)
}

// UnmarshalJSON reads a number N, or a string "N" or "N%".
func (c *Count) UnmarshalJSON(b []byte) error {
	s := string(b)
	if uq, err := strconv.Unquote(s); err == nil {
		s = uq
	}
	v, err := ParseCount(s)
	if err != nil {
		// A type error, so encoding/json names the field it was in.
		return &json.UnmarshalTypeError{Value: fmt.Sprintf("%s (want N or N%%)", b), Type: reflect.TypeFor[Count]()}
	}
	*c = v
	return nil
}
