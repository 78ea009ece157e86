package boltstore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
)

// crashEnv names the state file the re-executed test binary writes to.
const crashEnv = "CANARYD_BOLT_CRASH_CHILD"

// TestCrashChild is the writer killed by TestCrash; it does nothing unless
// re-executed with crashEnv set. Each round it first repairs what a kill
// may have left half done (journal ahead of the watch by one step, as a
// resuming plan would), then loops: append journal step n, set the watch's
// counter to n, append an event, reporting each write on stdout as it
// returns ("journal n", "watch n", "event n") so the parent can kill it
// while any of the three is in flight.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		t.Skip("only run re-executed by TestCrash")
	}
	ctx := context.Background()
	s, err := boltstore.Open(path, boltstore.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("child open: %v", err)
	}
	if err := s.CreateWatch(ctx, store.Watch{ID: "w", Target: "api", Phase: store.PhaseRollingBack}); err != nil && !errors.Is(err, store.ErrExists) {
		t.Fatalf("child CreateWatch: %v", err)
	}
	j, err := s.Journal(ctx, "plan")
	if err != nil {
		t.Fatalf("child Journal: %v", err)
	}
	n := len(j)
	if err := setCounter(ctx, s, n); err != nil {
		t.Fatalf("child repair: %v", err)
	}
	for {
		n++
		e := store.JournalEntry{PlanID: "plan", Target: "api", Step: n, Name: fmt.Sprintf("step-%d", n),
			Status: store.StepDone, Time: time.Unix(int64(n), 0).UTC(), Detail: []byte(fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", n%500)))}
		if err := s.AppendJournal(ctx, e, store.Fence{}); err != nil {
			t.Fatalf("child AppendJournal: %v", err)
		}
		fmt.Printf("journal %d\n", n)
		if err := setCounter(ctx, s, n); err != nil {
			t.Fatalf("child UpdateWatch: %v", err)
		}
		fmt.Printf("watch %d\n", n)
		if err := s.AppendEvent(ctx, store.Event{Target: "api", Type: "step", Message: fmt.Sprint(n)}); err != nil {
			t.Fatalf("child AppendEvent: %v", err)
		}
		fmt.Printf("event %d\n", n)
	}
}

// setCounter records n as the watch's progress.
func setCounter(ctx context.Context, s store.Store, n int) error {
	_, err := s.UpdateWatch(ctx, "w", func(w *store.Watch) error {
		w.Weights = map[string]float64{"n": float64(n)}
		return nil
	})
	return err
}

// TestCrash SIGKILLs a writer at random moments (after it reported some
// progress, while it keeps writing) and checks the file reopens with every
// record whole and in order, several times over on the same file.
func TestCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("subprocess crash test")
	}
	path := filepath.Join(t.TempDir(), "state.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var before progress
	for round := 0; round < 8; round++ {
		p := runAndKill(t, path, 1+rng.IntN(60))
		if p.journal <= before.journal {
			t.Fatalf("round %d: child reported journal step %d, not beyond the previous round's %d", round, p.journal, before.journal)
		}
		checkCrashState(t, path, p)
		before = p
	}
}

// progress is the last journal step and watch counter a child reported.
type progress struct{ journal, watch int }

// runAndKill starts the child, waits until it reports `wait` writes, kills
// it with SIGKILL and returns what it reported.
func runAndKill(t *testing.T, path string, wait int) progress {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start child: %v", err)
	}
	sc := bufio.NewScanner(out)
	var p progress
	seen := 0
	for seen < wait && sc.Scan() {
		var kind string
		var n int
		if _, err := fmt.Sscanf(sc.Text(), "%s %d", &kind, &n); err != nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			t.Fatalf("child said %q (stderr %s)", sc.Text(), stderr.String())
		}
		switch kind {
		case "journal":
			p.journal = n
		case "watch":
			p.watch = n
		}
		seen++
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill child: %v", err)
	}
	_ = cmd.Wait()
	if seen < wait {
		t.Fatalf("child stopped after %d of %d steps: %v; stderr %s", seen, wait, sc.Err(), stderr.String())
	}
	return p
}

// checkCrashState reopens the file and checks the journal is steps 1..J in
// order, each whole, holding at least what was reported, and the watch is
// at J or J-1 (killed in between) and not behind what was reported.
func checkCrashState(t *testing.T, path string, reported progress) {
	t.Helper()
	ctx := context.Background()
	s, err := boltstore.Open(path, boltstore.Options{Timeout: 10 * time.Second})
	if err != nil {
		t.Fatalf("reopen after SIGKILL: %v", err)
	}
	defer s.Close()
	j, err := s.Journal(ctx, "plan")
	if err != nil {
		t.Fatalf("Journal after SIGKILL: %v", err)
	}
	if len(j) < reported.journal {
		t.Fatalf("journal has %d entries, but the child reported step %d written", len(j), reported.journal)
	}
	for i, e := range j {
		want := fmt.Sprintf(`{"pad":%q}`, strings.Repeat("x", (i+1)%500))
		if e.Step != i+1 || e.Name != fmt.Sprintf("step-%d", i+1) || string(e.Detail) != want {
			t.Fatalf("journal[%d] = step %d %q, detail %d bytes: not whole or out of order", i, e.Step, e.Name, len(e.Detail))
		}
	}
	w, err := s.GetWatch(ctx, "w")
	if err != nil {
		t.Fatalf("GetWatch after SIGKILL: %v", err)
	}
	n := int(w.Weights["n"])
	if n != len(j) && n != len(j)-1 || n < reported.watch {
		t.Fatalf("watch counter %d with %d journal entries (reported watch %d)", n, len(j), reported.watch)
	}
	evs, err := s.Events(ctx, store.EventFilter{Target: "api"})
	if err != nil {
		t.Fatalf("Events after SIGKILL: %v", err)
	}
	prev := 0
	for _, e := range evs { // a kill may skip an event, never reorder or tear one
		n, err := strconv.Atoi(e.Message)
		if err != nil || n <= prev || n > len(j) {
			t.Fatalf("event %q after %d (journal %d): torn or out of order", e.Message, prev, len(j))
		}
		prev = n
	}
	t.Logf("killed after journal %d / watch %d reported: journal %d, watch %d, events %d",
		reported.journal, reported.watch, len(j), n, len(evs))
}
