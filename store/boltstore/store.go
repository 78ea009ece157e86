// Package boltstore is the embedded store backend: one bbolt file holding
// every record as JSON, one bucket per kind. Every write is a single bbolt
// transaction, so a crash at any instant leaves the file consistent: a
// write is either wholly there or not at all. One process at a time may
// open the file (bbolt takes an exclusive file lock).
//
// Layout (bucket → key → value):
//
//	targets        name                     → TargetState
//	watches        id                       → Watch
//	watch_time     TimeKey(DetectedAt)+id   → ""  (all watches, time order)
//	watch_active   TimeKey(DetectedAt)+id   → ""  (watches not in a Final phase)
//	watch_target   /target/ TimeKey+id      → ""  (nested bucket per target)
//	incidents      id                       → Incident
//	incident_time  TimeKey(OpenedAt)+id     → ""
//	incident_target /target/ TimeKey+id     → ""
//	journal        /planID/ seq             → JournalEntry (nested bucket per plan)
//	leases         target                   → record.Lease (token never reset)
//	overrides      id                       → Override
//	events         seq                      → Event
//	event_target   /target/ seq             → ""
//
// seq is a big-endian uint64 from Bucket.NextSequence, so keys sort in
// append order. Each target keeps its newest Options.EventRetention events
// (the count lives in the target's event_target bucket sequence); the
// oldest is pruned from both buckets in the same transaction as an append.
package boltstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jonboulle/clockwork"
	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/canaryd/canaryd/store"
)

// Bucket names.
var (
	bTargets        = []byte("targets")
	bWatches        = []byte("watches")
	bWatchTime      = []byte("watch_time")
	bWatchActive    = []byte("watch_active")
	bWatchTarget    = []byte("watch_target")
	bIncidents      = []byte("incidents")
	bIncidentTime   = []byte("incident_time")
	bIncidentTarget = []byte("incident_target")
	bJournal        = []byte("journal")
	bLeases         = []byte("leases")
	bOverrides      = []byte("overrides")
	bEvents         = []byte("events")
	bEventTarget    = []byte("event_target")
	bOutbox         = []byte("outbox")
	bMeta           = []byte("meta")
)

var allBuckets = [][]byte{
	bTargets, bWatches, bWatchTime, bWatchActive, bWatchTarget,
	bIncidents, bIncidentTime, bIncidentTarget, bJournal, bLeases,
	bOverrides, bEvents, bEventTarget, bOutbox, bMeta,
}

// DefaultTimeout is how long Open waits for the file lock when
// Options.Timeout is zero.
const DefaultTimeout = time.Second

// DefaultEventRetention is how many events each target keeps by default.
const DefaultEventRetention = 10000

// Options configures Open.
type Options struct {
	// Clock judges lease expiry; the real clock when nil.
	Clock clockwork.Clock
	// Timeout is how long to wait for another process to release the
	// file lock; DefaultTimeout when zero.
	Timeout time.Duration
	// EventRetention bounds each target's history; DefaultEventRetention
	// when zero.
	EventRetention int
}

// Store is a store.Store over one bbolt file.
type Store struct {
	db        *bolt.DB
	clock     clockwork.Clock
	path      string
	retention uint64
	once      sync.Once
	err       error
}

var _ store.Store = (*Store)(nil)

// ErrInUse is returned by Open when another process holds the file.
var ErrInUse = errors.New("state file is in use by another canaryd")

// Open opens (creating if needed) the state file at path.
func Open(path string, o Options) (*Store, error) {
	if o.Clock == nil {
		o.Clock = clockwork.NewRealClock()
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.EventRetention <= 0 {
		o.EventRetention = DefaultEventRetention
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: o.Timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("state file %s is in use by another canaryd (lock not released within %s): %w",
			path, o.Timeout, ErrInUse)
	}
	if err != nil {
		return nil, fmt.Errorf("open state file %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("create bucket %s: %w", b, err)
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("initialise state file %s: %w", path, err)
	}
	return &Store{db: db, clock: o.Clock, path: path, retention: uint64(o.EventRetention)}, nil
}

// Path returns the file the store was opened on.
func (s *Store) Path() string { return s.path }

// Close closes the file and releases its lock. It is safe to call twice.
// Shared is false: the file is locked by one process, which owns every
// target without leases.
func (s *Store) Shared() bool { return false }

func (s *Store) Close() error {
	s.once.Do(func() { s.err = s.db.Close() })
	return s.err
}

// update runs fn in a read-write transaction after checking ctx.
func (s *Store) update(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(fn)
}

// view runs fn in a read-only transaction after checking ctx.
func (s *Store) view(ctx context.Context, fn func(tx *bolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

// seqKey encodes a sequence number as a sortable key.
func seqKey(n uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, n)
	return b
}

// put JSON-encodes v under key in b.
func put(b *bolt.Bucket, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return b.Put(key, data)
}

// get decodes the JSON record under key in b into v; ErrNotFound if absent.
func get(b *bolt.Bucket, key []byte, v any) error {
	data := b.Get(key)
	if data == nil {
		return store.ErrNotFound
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", key, err)
	}
	return nil
}

// nested returns (creating) the sub-bucket name of parent.
func nested(tx *bolt.Tx, parent []byte, name string) (*bolt.Bucket, error) {
	if name == "" {
		name = "\x00" // bbolt rejects empty bucket names
	}
	return tx.Bucket(parent).CreateBucketIfNotExists([]byte(name))
}

// nestedRO returns the sub-bucket name of parent, or nil.
func nestedRO(tx *bolt.Tx, parent []byte, name string) *bolt.Bucket {
	if name == "" {
		name = "\x00"
	}
	return tx.Bucket(parent).Bucket([]byte(name))
}
