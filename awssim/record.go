package awssim

import (
	"crypto/rand"
	"encoding/hex"
	"maps"
	"sync"
)

// recorder is the call log.
type recorder struct {
	mu    sync.Mutex
	calls []Call
}

func (r *recorder) add(c Call) {
	r.mu.Lock()
	r.calls = append(r.calls, c)
	r.mu.Unlock()
}

// Calls returns the recorded calls of api (e.g. "UpdateAlias"), oldest
// first, including calls answered with an injected fault; "" returns all.
func (s *Sim) Calls(api string) []Call {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	var out []Call
	for _, c := range s.rec.calls {
		if api == "" || c.API == api {
			c.Params = maps.Clone(c.Params)
			c.Result = maps.Clone(c.Result)
			out = append(out, c)
		}
	}
	return out
}

// ResetCalls forgets the call log.
func (s *Sim) ResetCalls() {
	s.rec.mu.Lock()
	s.rec.calls = nil
	s.rec.mu.Unlock()
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
