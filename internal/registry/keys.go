package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/pulseops/pulse/internal/protocol"
)

// The JetStream API's error codes for a stream that does not exist and
// for an account without JetStream.
const (
	errCodeStreamNotFound   = 10059
	errCodeNotEnabledForAcc = 10039
)

// KeyList is the bucket's keys as one Keys call saw them.
type KeyList struct {
	// Identities are the nodes with a live key, sorted.
	Identities []string
	// Corrupt are keys that cannot be a node's (more than one token).
	Corrupt []Skipped
	Took    time.Duration
}

// Keys lists the nodes that hold a key in collective's bucket without
// reading a value: one stream info request that asks for the subjects
// (a few hundred kilobytes for 10,000 nodes, and no message loaded on
// the server), so a call that needs only who is registered — no filter,
// or one on identities — costs next to nothing. JetStream removes a key
// its time to live after the registration that wrote it, so the list holds
// the nodes that registered within the last Beats heartbeats; what the
// values say (and whether they are well-formed) only Read can tell.
// ErrNoBucket means there is no bucket.
func Keys(ctx context.Context, nc *nats.Conn, collective string, timeout time.Duration) (*KeyList, error) {
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	start := time.Now()
	prefix := keyPrefix(collective)
	api := "$JS.API.STREAM.INFO." + Stream(collective)
	out := &KeyList{}
	for offset := 0; ; {
		req, _ := json.Marshal(map[string]any{"subjects_filter": prefix + ">", "offset": offset})
		rctx, cancel := context.WithTimeout(ctx, timeout)
		msg, err := nc.RequestWithContext(rctx, api, req)
		cancel()
		switch {
		case errors.Is(err, nats.ErrNoResponders):
			return nil, fmt.Errorf("%w (bucket %s; no JetStream answered)", ErrNoBucket, Bucket(collective))
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			return nil, fmt.Errorf("%w: no answer from the server within %s (bucket %s)", ErrUnavailable, timeout, Bucket(collective))
		case err != nil:
			return nil, fmt.Errorf("%w: list the keys of bucket %s: %v", ErrUnavailable, Bucket(collective), err)
		}
		var resp struct {
			Error *struct {
				Code        int    `json:"code"`
				ErrCode     int    `json:"err_code"`
				Description string `json:"description"`
			} `json:"error"`
			State struct {
				Subjects map[string]uint64 `json:"subjects"`
			} `json:"state"`
			Total int `json:"total"`
			Limit int `json:"limit"`
		}
		if err := json.Unmarshal(msg.Data, &resp); err != nil {
			return nil, fmt.Errorf("%w: unreadable answer listing the keys of bucket %s: %v", ErrUnavailable, Bucket(collective), err)
		}
		if e := resp.Error; e != nil {
			if e.ErrCode == errCodeStreamNotFound || e.ErrCode == errCodeNotEnabledForAcc {
				return nil, fmt.Errorf("%w (bucket %s: %s)", ErrNoBucket, Bucket(collective), e.Description)
			}
			return nil, fmt.Errorf("%w: listing the keys of bucket %s: %s (%d)", ErrUnavailable, Bucket(collective), e.Description, e.ErrCode)
		}
		for subject := range resp.State.Subjects {
			key := strings.TrimPrefix(subject, prefix)
			if !strings.HasPrefix(subject, prefix) || !protocol.ValidToken(key) {
				out.Corrupt = append(out.Corrupt, Skipped{Key: key, Reason: "key", Err: fmt.Sprintf("subject %q is not a node's key", subject)})
				continue
			}
			out.Identities = append(out.Identities, key)
		}
		n := len(resp.State.Subjects)
		offset += n
		if n == 0 || resp.Limit == 0 || offset >= resp.Total {
			break
		}
	}
	sort.Strings(out.Identities)
	out.Took = time.Since(start)
	return out, nil
}
