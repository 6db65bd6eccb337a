package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// ErrNoBucket is returned when the bus has no fleet registry bucket: no
// JetStream, or nobody created the bucket (the collector, or `pulse demo`,
// does).
var ErrNoBucket = errors.New("no fleet registry bucket on this bus")

// Put writes envelope, a registration, under identity's key of
// collective's bucket, kept for ttl, and waits up to timeout for the
// server to say it stored it. It is a plain NATS publish, as a KV put is:
// the broker lets a node publish only on its own key's subject.
func Put(nc *nats.Conn, collective, identity string, envelope []byte, ttl, timeout time.Duration) error {
	m := nats.NewMsg(keyPrefix(collective) + identity)
	m.Header.Set("Nats-TTL", strconv.FormatInt(int64(ttl/time.Second), 10))
	m.Data = envelope
	resp, err := nc.RequestMsg(m, timeout)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return fmt.Errorf("%w (bucket %s)", ErrNoBucket, Bucket(collective))
	case err != nil:
		return fmt.Errorf("write %s's key to the fleet registry: %w", identity, err)
	}
	var ack struct {
		Stream string `json:"stream"`
		Error  *struct {
			Code        int    `json:"code"`
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &ack); err != nil {
		return fmt.Errorf("write %s's key to the fleet registry: unreadable answer %q: %w", identity, resp.Data, err)
	}
	if ack.Error != nil {
		return fmt.Errorf("the fleet registry refused %s's key: %s (%d)", identity, ack.Error.Description, ack.Error.Code)
	}
	return nil
}
