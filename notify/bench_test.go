package notify

import (
	"context"
	"testing"

	"github.com/canaryd/canaryd/config"
)

// benchSend measures Send's cost to the caller (the actuator) with the
// given notifiers behind it.
func benchSend(b *testing.B, notifiers map[string]Notifier, queue int) {
	d := New(Config{Notifiers: notifiers, QueueSize: queue})
	b.Cleanup(func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = d.Close(ctx)
	})
	ev := trippedEvent()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		d.Send(ev)
	}
}

// BenchmarkSendHangingNotifier: every notifier hangs, queues are full,
// each Send drops the oldest event. This is the worst case for the caller.
func BenchmarkSendHangingNotifier(b *testing.B) {
	gate := make(chan struct{})
	b.Cleanup(func() { close(gate) })
	benchSend(b, map[string]Notifier{
		"a": &scripted{name: "a", gate: gate},
		"b": &scripted{name: "b", gate: gate},
	}, 64)
}

// BenchmarkSendHealthyNotifier: one notifier that returns at once.
func BenchmarkSendHealthyNotifier(b *testing.B) {
	benchSend(b, map[string]Notifier{"a": &discard{}}, DefaultQueueSize)
}

type discard struct{}

func (discard) Name() string                        { return "discard" }
func (discard) Notify(context.Context, Event) error { return nil }

func BenchmarkRender(b *testing.B) {
	ev := trippedEvent()
	b.ReportAllocs()
	for b.Loop() {
		_ = Render(ev).Text()
	}
}

func BenchmarkPagerDutyBody(b *testing.B) {
	pd := NewPagerDuty(PagerDutyConfig{Name: "pd", RoutingKey: config.NewSecret(pdKey)})
	ev := trippedEvent()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := pd.body(ev); err != nil {
			b.Fatal(err)
		}
	}
}
