package record

import (
	"crypto/rand"
	"encoding/hex"
	"sort"
	"time"

	"github.com/canaryd/canaryd/store"
)

// OutboxKey is the key of an outbox entry: its alert ID and notifier.
func OutboxKey(id, notifier string) string { return id + "\x00" + notifier }

// SortOutbox orders entries oldest first, then by ID and notifier.
func SortOutbox(es []store.OutboxEntry) {
	sort.Slice(es, func(i, j int) bool {
		a, b := es[i], es[j]
		if !a.Created.Equal(b.Created) {
			return a.Created.Before(b.Created)
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Notifier < b.Notifier
	})
}

// NewMarker is a fresh store marker.
func NewMarker(now time.Time) store.Marker {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return store.Marker{ID: hex.EncodeToString(b), CreatedAt: now.UTC()}
}
