package edge

import (
	"context"
	"errors"
	"sync"

	"github.com/parley-im/parley"
)

// maxCachedConversations bounds the membership cache; past it an arbitrary
// entry is evicted (map iteration order), which is cheap and good enough for
// a cache that every membership change invalidates anyway.
const maxCachedConversations = 100_000

// membershipCache holds who belongs to which conversation, so that sends and
// other frames are authorized without a database round trip. Entries are
// loaded on a miss and dropped when a control announcement (streams
// Layout.Control) says the conversation changed, and all of them when the
// NATS connection was lost (announcements may have been missed).
type membershipCache struct {
	store Store

	mu  sync.Mutex
	m   map[string]cacheEntry // guarded by mu
	gen uint64                // guarded by mu; bumped on every invalidation
}

type cacheEntry struct {
	m       parley.Membership
	missing bool // the conversation does not exist
}

func newMembershipCache(st Store) *membershipCache {
	return &membershipCache{store: st, m: make(map[string]cacheEntry)}
}

func (c *membershipCache) get(ctx context.Context, cid string) (parley.Membership, error) {
	c.mu.Lock()
	e, ok := c.m[cid]
	gen := c.gen
	c.mu.Unlock()
	if ok {
		if e.missing {
			return parley.Membership{}, parley.ErrNotFound
		}
		return e.m, nil
	}
	m, err := c.store.Membership(ctx, cid)
	switch {
	case errors.Is(err, parley.ErrNotFound):
		e = cacheEntry{missing: true}
	case err != nil:
		return parley.Membership{}, err
	default:
		e = cacheEntry{m: m}
	}
	c.mu.Lock()
	if c.gen == gen { // nothing changed while we loaded
		if len(c.m) >= maxCachedConversations {
			for k := range c.m {
				delete(c.m, k)
				break
			}
		}
		c.m[cid] = e
	}
	c.mu.Unlock()
	if e.missing {
		return parley.Membership{}, parley.ErrNotFound
	}
	return m, nil
}

func (c *membershipCache) invalidate(cid string) {
	c.mu.Lock()
	delete(c.m, cid)
	c.gen++
	c.mu.Unlock()
}

func (c *membershipCache) invalidateAll() {
	c.mu.Lock()
	clear(c.m)
	c.gen++
	c.mu.Unlock()
}

// authorize returns the conversation's membership if uid is a member, and
// not_found otherwise (exactly as if the conversation did not exist).
func (s *Server) authorize(ctx context.Context, uid, cid string) (parley.Membership, error) {
	if cid == "" {
		return parley.Membership{}, parley.ErrNotFound
	}
	m, err := s.cache.get(ctx, cid)
	if err != nil {
		return parley.Membership{}, err
	}
	if _, ok := m.Roles[uid]; !ok {
		return parley.Membership{}, parley.ErrNotFound
	}
	return m, nil
}
