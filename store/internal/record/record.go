// Package record holds the pieces both store backends share so that they
// order, filter and validate records identically: sortable time keys,
// lease arithmetic and event filtering.
package record

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/canaryd/canaryd/store"
)

// TimeKeyLen is the length in bytes of TimeKey's result.
const TimeKeyLen = 12

// TimeKey encodes t so that byte order is time order, for every t including
// the zero time: 8 bytes of Unix seconds with the sign bit flipped, then 4
// bytes of nanoseconds, both big-endian.
func TimeKey(t time.Time) []byte {
	b := make([]byte, TimeKeyLen)
	binary.BigEndian.PutUint64(b, uint64(t.Unix())^(1<<63))
	binary.BigEndian.PutUint32(b[8:], uint32(t.Nanosecond()))
	return b
}

// SortKey is TimeKey(t) followed by id: newest-first listings iterate these
// keys in reverse, so ties on time are broken by id, the same way in every
// backend.
func SortKey(t time.Time, id string) []byte {
	return append(TimeKey(t), id...)
}

// SortKeyHex is SortKey with the time part hex-encoded and a '|' before id,
// for Redis lexicographic sorted sets (hex digits sort like the bytes).
func SortKeyHex(t time.Time, id string) string {
	return hex.EncodeToString(TimeKey(t)) + "|" + id
}

// IDFromSortKeyHex returns the id part of a SortKeyHex member.
func IDFromSortKeyHex(m string) (string, error) {
	n := 2*TimeKeyLen + 1
	if len(m) < n || m[n-1] != '|' {
		return "", fmt.Errorf("malformed index member %q", m)
	}
	return m[n:], nil
}

// ErrNoID is returned for records without an ID (or name).
var ErrNoID = errors.New("store: record has no id")

// ErrImmutable is returned when an update function changes a record's ID
// or target, which fix where the record lives.
var ErrImmutable = errors.New("store: update must not change id or target")

// Lease is the persisted state of one target's lease. Token is never
// reset, so every new holder gets a strictly larger one.
type Lease struct {
	Holder    string    `json:"holder"`
	Token     int64     `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Live reports whether the lease is held by someone at now.
func (l Lease) Live(now time.Time) bool {
	return l.Holder != "" && now.Before(l.ExpiresAt)
}

// Acquire applies an acquire-or-renew request to l at now. A live lease of
// another holder yields ErrLeaseHeld. The same holder renewing a live lease
// keeps its token; any other acquisition (new holder, or the same holder
// after its lease expired) takes the next token.
func (l Lease) Acquire(target, holder string, now time.Time, ttl time.Duration) (Lease, store.Fence, error) {
	if l.Live(now) && l.Holder != holder {
		return l, store.Fence{}, fmt.Errorf("lease on %s held by %s until %s: %w",
			target, l.Holder, l.ExpiresAt.Format(time.RFC3339Nano), store.ErrLeaseHeld)
	}
	if !l.Live(now) {
		l.Token++
		l.Holder = holder
	}
	l.ExpiresAt = now.Add(ttl)
	return l, store.Fence{Target: target, Holder: holder, Token: l.Token}, nil
}

// Check reports ErrFenced unless f is l's live lease at now.
func (l Lease) Check(f store.Fence, now time.Time) error {
	if !l.Live(now) || l.Holder != f.Holder || l.Token != f.Token {
		return fmt.Errorf("fence %s/%s#%d (current %s#%d): %w",
			f.Target, f.Holder, f.Token, l.Holder, l.Token, store.ErrFenced)
	}
	return nil
}

// ValidateLeaseArgs rejects empty targets/holders and non-positive TTLs.
func ValidateLeaseArgs(target, holder string, ttl time.Duration) error {
	switch {
	case target == "":
		return errors.New("store: lease needs a target")
	case holder == "":
		return errors.New("store: lease needs a holder")
	case ttl <= 0:
		return fmt.Errorf("store: lease ttl %s must be positive", ttl)
	}
	return nil
}

// MatchEvent reports whether e passes f's Target, WatchID, IncidentID and
// Since conditions (Limit is applied by the caller).
func MatchEvent(f store.EventFilter, e store.Event) bool {
	return (f.Target == "" || e.Target == f.Target) &&
		(f.WatchID == "" || e.WatchID == f.WatchID) &&
		(f.IncidentID == "" || e.IncidentID == f.IncidentID) &&
		(f.Since.IsZero() || !e.Time.Before(f.Since))
}

// Reverse reverses s in place (newest-first scans to oldest-first results).
func Reverse[T any](s []T) {
	for i, j := 0, len(s)-1; i < j; i, j = i+1, j-1 {
		s[i], s[j] = s[j], s[i]
	}
}

// SortOverrides orders overrides by creation time, then ID.
func SortOverrides(os []store.Override) {
	sort.Slice(os, func(i, j int) bool {
		if !os[i].CreatedAt.Equal(os[j].CreatedAt) {
			return os[i].CreatedAt.Before(os[j].CreatedAt)
		}
		return os[i].ID < os[j].ID
	})
}

// FenceMatchesEntry rejects a fenced append whose fence is for another
// target than the entry: the lease that guards a journal is its target's.
func FenceMatchesEntry(e store.JournalEntry, f store.Fence) error {
	if f.Token != 0 && f.Target != e.Target {
		return fmt.Errorf("fence for target %q used on journal of target %q: %w", f.Target, e.Target, store.ErrFenced)
	}
	return nil
}
