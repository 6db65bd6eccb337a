package nodeagent

import (
	"sync"
	"time"
)

// replayCache remembers request ids until their TTL has passed, so a request
// captured off the bus and sent again is refused.
type replayCache struct {
	mu    sync.Mutex
	seen  map[string]time.Time // id -> expiry
	prune time.Time
}

func newReplayCache() *replayCache { return &replayCache{seen: map[string]time.Time{}} }

// firstSeen records id until expiry and reports whether it was new.
func (c *replayCache) firstSeen(id string, now, expiry time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.After(c.prune) {
		for k, exp := range c.seen {
			if now.After(exp) {
				delete(c.seen, k)
			}
		}
		c.prune = now.Add(time.Minute)
	}
	if exp, ok := c.seen[id]; ok && now.Before(exp) {
		return false
	}
	c.seen[id] = expiry
	return true
}
