package redisstore

import "sync"

// DefaultDirCacheSize is Options.DirCacheSize when it is 0.
const DefaultDirCacheSize = 4096

// dirCache remembers which target an id (watch, incident, plan) belongs
// to, so that reading or updating a record costs no directory HGET. An
// entry never changes once written, so forgetting one costs only an HGET
// on its next use; the cache therefore keeps recent entries only, in two
// generations of at most size entries each: when the current one is full
// it becomes the previous one and the older is dropped, and an entry found
// in the previous generation moves back to the current one. Memory stays
// bounded however many deploys a long-running daemon sees (before, every
// id registered or looked up stayed for the life of the process).
type dirCache struct {
	mu        sync.Mutex
	size      int
	cur, prev map[string]string
}

func newDirCache(size int) *dirCache {
	return &dirCache{size: size, cur: make(map[string]string)}
}

func (c *dirCache) get(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t, ok := c.cur[key]; ok {
		return t, true
	}
	t, ok := c.prev[key]
	if ok {
		c.putLocked(key, t)
	}
	return t, ok
}

func (c *dirCache) put(key, target string) {
	c.mu.Lock()
	c.putLocked(key, target)
	c.mu.Unlock()
}

func (c *dirCache) putLocked(key, target string) {
	if _, ok := c.cur[key]; !ok && len(c.cur) >= c.size {
		c.prev, c.cur = c.cur, make(map[string]string, c.size)
	}
	c.cur[key] = target
}

// len is how many entries the cache holds (tests).
func (c *dirCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.cur) + len(c.prev)
}
