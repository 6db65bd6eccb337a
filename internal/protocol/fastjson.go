package protocol

import (
	"encoding/json"
	"strconv"
	"time"
	"unicode/utf8"
)

// Every agent decodes each request and encodes its reply, and the client
// decodes one reply per agent. At 10,000 nodes encoding/json was the largest
// cost of a ping: its reflection, and the stack its decoder grows again on
// every agent's goroutine after each garbage collection. The functions here
// handle the form pulse itself writes — a flat object of known keys, strings
// without escapes, small integers, an object as data — and hand anything
// else to encoding/json. They accept and produce exactly what encoding/json
// does; FuzzFastCodec and TestFastCodecEveryField check that. The envelope
// (envelope.go) is read with the same scanner.

// Known body keys, as bits, so that a repeated key goes to encoding/json.
const (
	kCollective = 1 << iota
	kAgent
	kAction
	kData
	kStatus
	kStatusMsg
	kOrigin
)

// decodeRequestBody is the fast path of a request body; false means it left
// the body to encoding/json (fields it had set are set again there).
func decodeRequestBody(b []byte, r *RequestBody) bool {
	return decodeObject(b, func(s *scanner, key []byte) (int, bool) {
		switch string(key) {
		case "collective":
			return kCollective, s.str(&r.Collective)
		case "agent":
			return kAgent, s.str(&r.Agent)
		case "action":
			return kAction, s.str(&r.Action)
		case "data":
			return kData, s.object(&r.Data)
		case "origin":
			// Rare (changing requests only) and small: encoding/json reads
			// the object, so it is read as it would be in the whole body.
			v, ok := s.rawObject()
			if !ok {
				return kOrigin, false
			}
			r.Origin = new(Origin)
			return kOrigin, json.Unmarshal(v, r.Origin) == nil
		}
		return 0, false
	})
}

// decodeReplyBody is the fast path of a reply body.
func decodeReplyBody(b []byte, r *ReplyBody) bool {
	return decodeObject(b, func(s *scanner, key []byte) (int, bool) {
		switch string(key) {
		case "agent":
			return kAgent, s.str(&r.Agent)
		case "action":
			return kAction, s.str(&r.Action)
		case "statusmsg":
			return kStatusMsg, s.str(&r.StatusMsg)
		case "data":
			return kData, s.object(&r.Data)
		case "statuscode":
			n, ok := s.int()
			r.Status = Status(n)
			return kStatus, ok
		}
		return 0, false
	})
}

// decodeObject walks one JSON object, calling field for each key with the
// scanner at its value; field reads the value into its place and returns
// the key's bit and whether it could. An unknown or repeated key ends the
// fast path.
func decodeObject(b []byte, field func(s *scanner, key []byte) (int, bool)) bool {
	s := scanner{b: b}
	if !s.next('{') {
		return false
	}
	if s.next('}') {
		return s.end()
	}
	seen := 0
	for {
		key, ok := s.rawStr()
		if !ok || !s.next(':') {
			return false
		}
		bit, ok := field(&s, key[1:len(key)-1])
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		if s.next('}') {
			return s.end()
		}
		if !s.next(',') {
			return false
		}
	}
}

// scanner reads JSON tokens from b at i.
type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next consumes c after any white space.
func (s *scanner) next(c byte) bool {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

// rawStr reads a string without escapes or control characters and with
// valid UTF-8, and returns it with its quotes.
func (s *scanner) rawStr() ([]byte, bool) {
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false
	}
	ascii := true
	for j := s.i + 1; j < len(s.b); j++ {
		switch c := s.b[j]; {
		case c == '"':
			v := s.b[s.i : j+1]
			if !ascii && !utf8.Valid(v) {
				return nil, false // encoding/json replaces bad bytes
			}
			s.i = j + 1
			return v, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, false
}

// str reads a string into dst.
func (s *scanner) str(dst *string) bool {
	v, ok := s.rawStr()
	if ok {
		*dst = string(v[1 : len(v)-1])
	}
	return ok
}

// anyStr reads a string into dst, escapes and all, as encoding/json does.
func (s *scanner) anyStr(dst *string) bool {
	if s.str(dst) {
		return true
	}
	s.space()
	start := s.i
	if start >= len(s.b) || s.b[start] != '"' {
		return false
	}
	j := start + 1
	for ; j < len(s.b) && s.b[j] != '"'; j++ {
		if s.b[j] == '\\' {
			j++
		}
	}
	if j >= len(s.b) || json.Unmarshal(s.b[start:j+1], dst) != nil {
		return false
	}
	s.i = j + 1
	return true
}

// strings reads an array of strings into dst.
func (s *scanner) strings(dst *[]string) bool {
	if !s.next('[') {
		return false
	}
	out := []string{}
	if !s.next(']') {
		for {
			var v string
			if !s.anyStr(&v) {
				return false
			}
			out = append(out, v)
			if s.next(']') {
				break
			}
			if !s.next(',') {
				return false
			}
		}
	}
	*dst = out
	return true
}

// skipObject returns the bytes of the object at s.i without checking them
// beyond what finding its end takes: strings, escapes and nesting. Whoever
// decodes them checks them.
func (s *scanner) skipObject() ([]byte, bool) {
	s.space()
	start, depth := s.i, 0
	if start >= len(s.b) || s.b[start] != '{' {
		return nil, false
	}
	for j := start; j < len(s.b); j++ {
		switch s.b[j] {
		case '"':
			for j++; j < len(s.b) && s.b[j] != '"'; j++ {
				if s.b[j] == '\\' {
					j++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				s.i = j + 1
				return s.b[start:s.i], true
			}
		}
	}
	return nil, false
}

// time reads a string as time.Time reads its JSON.
func (s *scanner) time(t *time.Time) bool {
	v, ok := s.rawStr()
	if !ok {
		return false
	}
	if u, ok := parseUTC(v[1 : len(v)-1]); ok {
		*t = u
		return true
	}
	return t.UnmarshalJSON(v) == nil
}

// parseUTC reads the form pulse writes times in, RFC 3339 in UTC with up
// to nine fractional digits ("2026-11-25T11:00:00.123Z"), as time.Parse
// does and several times faster; false leaves anything else, and any date
// it would have to correct, to time.Time's own parser.
func parseUTC(b []byte) (time.Time, bool) {
	if len(b) < 20 || len(b) > 30 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(i, n int) int {
		v := 0
		for _, c := range b[i : i+n] {
			if c < '0' || c > '9' {
				return -1
			}
			v = v*10 + int(c-'0')
		}
		return v
	}
	year, month, day, hour, minute, sec := num(0, 4), num(5, 2), num(8, 2), num(11, 2), num(14, 2), num(17, 2)
	if year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return time.Time{}, false
	}
	ns := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 {
			return time.Time{}, false
		}
		if ns = num(20, len(frac)-1); ns < 0 {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			ns *= 10
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, ns, time.UTC)
	if t.Day() != day { // February 30th and the like: time.Parse refuses it
		return time.Time{}, false
	}
	return t, true
}

// int reads an integer of up to 18 digits; fractions, exponents and larger
// numbers are for encoding/json.
func (s *scanner) int() (int64, bool) {
	s.space()
	j, neg := s.i, false
	if j < len(s.b) && s.b[j] == '-' {
		j, neg = j+1, true
	}
	var n int64
	d := j
	for ; j < len(s.b) && s.b[j] >= '0' && s.b[j] <= '9'; j++ {
		n = n*10 + int64(s.b[j]-'0')
	}
	if j == d || j-d > 18 || (s.b[d] == '0' && j-d > 1) {
		return 0, false
	}
	if j < len(s.b) && (s.b[j] == '.' || s.b[j] == 'e' || s.b[j] == 'E') {
		return 0, false
	}
	s.i = j
	if neg {
		n = -n
	}
	return n, true
}

// object copies the object at s.i into dst.
func (s *scanner) object(dst *json.RawMessage) bool {
	v, ok := s.rawObject()
	if ok {
		*dst = append(json.RawMessage(nil), v...)
	}
	return ok
}

// rawObject returns the bytes of the object at s.i, once encoding/json
// confirms it is valid.
func (s *scanner) rawObject() ([]byte, bool) {
	s.space()
	start, depth := s.i, 0
	for j := start; j < len(s.b); j++ {
		switch s.b[j] {
		case '"':
			for j++; j < len(s.b) && s.b[j] != '"'; j++ {
				if s.b[j] == '\\' {
					j++
				}
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				v := s.b[start : j+1]
				if v[0] != '{' || !json.Valid(v) {
					return nil, false
				}
				s.i = j + 1
				return v, true
			}
		default:
			if depth == 0 {
				return nil, false // not an object
			}
		}
	}
	return nil, false
}

func isEmptyObject(v []byte) bool {
	s := scanner{b: v}
	return s.next('{') && s.next('}') && s.end()
}

// appendRequestBody writes r as json.Marshal does; false when a value
// needs escaping or data is not compact plain ASCII.
func appendRequestBody(b []byte, r *RequestBody) ([]byte, bool) {
	if !plain(r.Collective) || !plain(r.Agent) || !plain(r.Action) || !compactASCII(r.Data) {
		return b, false
	}
	b = appendField(b, `{"collective":"`, r.Collective)
	b = appendField(b, `","agent":"`, r.Agent)
	b = appendField(b, `","action":"`, r.Action)
	b = append(b, '"')
	if len(r.Data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, r.Data...)
	}
	if r.Origin != nil {
		o, err := json.Marshal(r.Origin)
		if err != nil {
			return b, false
		}
		b = append(b, `,"origin":`...)
		b = append(b, o...)
	}
	return append(b, '}'), true
}

// appendReplyBody writes r as json.Marshal does; false when a value needs
// escaping or data is not compact plain ASCII.
func appendReplyBody(b []byte, r *ReplyBody) ([]byte, bool) {
	if !plain(r.Agent) || !plain(r.Action) || !plain(r.StatusMsg) || !compactASCII(r.Data) {
		return b, false
	}
	b = appendField(b, `{"agent":"`, r.Agent)
	b = appendField(b, `","action":"`, r.Action)
	b = append(b, `","statuscode":`...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = appendField(b, `,"statusmsg":"`, r.StatusMsg)
	b = append(b, '"')
	if len(r.Data) > 0 {
		b = append(b, `,"data":`...)
		b = append(b, r.Data...)
	}
	return append(b, '}'), true
}

func appendField(b []byte, prefix, v string) []byte {
	return append(append(b, prefix...), v...)
}

// plain reports whether json.Marshal writes s unchanged: printable ASCII
// without quotes, backslashes or the HTML characters it escapes.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// compactASCII reports whether json.Marshal writes raw unchanged: valid
// JSON, printable ASCII, no white space and no HTML characters.
func compactASCII(raw json.RawMessage) bool {
	for _, c := range raw {
		switch {
		case c <= ' ' || c >= 0x7f, c == '<', c == '>', c == '&':
			return false
		}
	}
	return len(raw) == 0 || json.Valid(raw)
}
