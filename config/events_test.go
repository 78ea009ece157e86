package config

import (
	"testing"
	"time"
)

// TestEventsSection: [events] is optional; when present its defaults are
// applied at load and the region comes from the queue URL.
func TestEventsSection(t *testing.T) {
	base := "[aws]\nregion = \"eu-west-1\"\n[[target]]\nname = \"api\"\nfunction = \"api-fn\"\nalias = \"live\"\n[[target.rule]]\nname = \"errors\"\nkind = \"error_rate\"\nthreshold = 0.05\n"
	c, err := Parse([]byte(base), "t.toml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Events.Enabled() {
		t.Fatalf("no [events]: enabled %+v", c.Events)
	}
	c, err = Parse([]byte(base+"[events]\nqueue_url = \"https://sqs.us-east-2.amazonaws.com/123456789012/canaryd-events\"\n"), "t.toml", Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := c.Events
	if !e.Enabled() || e.Region != "us-east-2" || e.Sweep.Duration != 5*time.Minute || e.WaitTime.Duration != 20*time.Second || e.MaxMessages != 10 || e.SweepRate != 2 {
		t.Fatalf("[events] after defaults: %+v", e)
	}
}
