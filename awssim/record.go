package awssim

import (
	"crypto/rand"
	"encoding/hex"
	"maps"
	"sync"
)

// NoCallLog, as Options.CallLogLimit, records no calls: Calls returns
// nothing while CallCount still counts every call.
const NoCallLog = -1

// recorder is the call log and the count of calls per API.
type recorder struct {
	mu sync.Mutex
	// limit is Options.CallLogLimit: 0 keeps every call, > 0 the newest
	// limit calls (calls is then a ring whose oldest entry is at next once
	// full), < 0 none.
	limit  int
	calls  []Call
	next   int
	counts map[string]int
}

func newRecorder(limit int) *recorder {
	return &recorder{limit: limit, counts: map[string]int{}}
}

func (r *recorder) add(c Call) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[c.API]++
	switch {
	case r.limit < 0:
	case r.limit == 0 || len(r.calls) < r.limit:
		r.calls = append(r.calls, c)
	default:
		r.calls[r.next] = c
		r.next = (r.next + 1) % r.limit
	}
}

// Calls returns the recorded calls of api (e.g. "UpdateAlias"), oldest
// first, including calls answered with an injected fault; "" returns all.
// With Options.CallLogLimit only the newest calls are still there.
func (s *Sim) Calls(api string) []Call {
	r := s.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Call
	for i := range r.calls {
		c := r.calls[(r.next+i)%len(r.calls)]
		if api == "" || c.API == api {
			c.Params = maps.Clone(c.Params)
			c.Result = maps.Clone(c.Result)
			out = append(out, c)
		}
	}
	return out
}

// CallCount returns how many calls of api ("" for all) the simulator has
// answered since it started or since ResetCalls, whether or not the call
// log still holds them.
func (s *Sim) CallCount(api string) int {
	r := s.rec
	r.mu.Lock()
	defer r.mu.Unlock()
	if api != "" {
		return r.counts[api]
	}
	n := 0
	for _, c := range r.counts {
		n += c
	}
	return n
}

// ResetCalls forgets the call log and the call counts.
func (s *Sim) ResetCalls() {
	r := s.rec
	r.mu.Lock()
	r.calls, r.next = nil, 0
	clear(r.counts)
	r.mu.Unlock()
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
