package boltstore_test

import (
	"errors"
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
