package quality

import (
	"strings"
	"testing"
	"time"
)

func TestWriteCSV(t *testing.T) {
	r := &Report{Judges: []string{"canaryd", "static"}, Outcomes: []Outcome{
		{Kind: BadErrors10x, Seed: 7, Decisions: []Decision{{Failing: true, At: 70 * time.Second}, {Failing: true, At: 4 * time.Minute}}},
		{Kind: GoodSteady, Seed: 8, Decisions: []Decision{{Promoted: true, At: 10 * time.Minute}, {Failing: true, At: time.Minute}}},
		{Kind: GoodIncident, Seed: 9, Decisions: []Decision{{Failing: true, AlertOnly: true, At: time.Minute}, {}}},
	}}
	var b strings.Builder
	if err := r.WriteCSV(&b); err != nil {
		t.Fatal(err)
	}
	want := `kind,seed,judge,decision,at_s,right
bad/errors-10x,7,canaryd,rollback,70.0,true
bad/errors-10x,7,static,rollback,240.0,false
good/steady,8,canaryd,promoted,600.0,true
good/steady,8,static,rollback,60.0,false
good/during-incident,9,canaryd,alert,60.0,true
good/during-incident,9,static,none,0.0,true
`
	if b.String() != want {
		t.Fatalf("CSV:\n%s\nwant:\n%s", b.String(), want)
	}
}
