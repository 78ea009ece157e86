package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
	"github.com/canaryd/canaryd/store/storetest"
)

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	storetest.Run(t, func(t *testing.T, clk *clockwork.FakeClock) store.Store {
		s, err := boltstore.Open(filepath.Join(dir, storetest.Key(t)+".db"), boltstore.Options{Clock: clk})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}

func TestOpenLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	first, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = first.Close() })

	_, err = boltstore.Open(path, boltstore.Options{Timeout: 50 * time.Millisecond})
	if !errors.Is(err, boltstore.ErrInUse) {
		t.Fatalf("second Open: got %v, want ErrInUse", err)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "in use by another canaryd") {
		t.Errorf("error %q does not name the file and say it is in use", err)
	}

	if err := first.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	again, err := boltstore.Open(path, boltstore.Options{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("Open after the holder closed: %v", err)
	}
	_ = again.Close()
}

func TestOpenBadPath(t *testing.T) {
	_, err := boltstore.Open(filepath.Join(t.TempDir(), "missing-dir", "state.db"), boltstore.Options{})
	if err == nil || errors.Is(err, boltstore.ErrInUse) {
		t.Fatalf("Open in a missing directory: got %v, want a plain open error", err)
	}
}

func TestEventRetention(t *testing.T) {
	ctx := context.Background()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "state.db"), boltstore.Options{EventRetention: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	for i := 0; i < 6; i++ {
		for _, target := range []string{"a", "b"} {
			if err := s.AppendEvent(ctx, store.Event{Target: target, Message: fmt.Sprint(i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		f    store.EventFilter
		want string
	}{
		{store.EventFilter{Target: "a"}, "a3 a4 a5"},
		{store.EventFilter{}, "a3 b3 a4 b4 a5 b5"},
		{store.EventFilter{Target: "b", Limit: 2}, "b4 b5"},
	} {
		evs, err := s.Events(ctx, tc.f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range evs {
			got = append(got, e.Target+e.Message)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("Events(%+v) = %v, want %s", tc.f, got, tc.want)
		}
	}
}
