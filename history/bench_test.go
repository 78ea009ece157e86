package history

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
)

// BenchmarkPostmortemMarkdown builds and renders the draft of an incident
// with a long history: 1,000 events and the fixture's plan.
func BenchmarkPostmortemMarkdown(b *testing.B) {
	f := newFixture(b)
	for i := range 1000 {
		f.events = append(f.events, store.Event{Time: t0.Add(time.Duration(i) * time.Second), Target: "checkout",
			WatchID: f.watch.ID, Type: "verdict", Message: fmt.Sprintf("healthy: error-rate 0.00%d < 0.05", i%10)})
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Postmortem(f.in, f.journal, f.events, f.watch).Markdown(io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
