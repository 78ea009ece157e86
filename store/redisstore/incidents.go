package redisstore

import (
	"context"
	"fmt"

	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/internal/record"
)

const incidentDir = "dir:incident"

// incidentIndexOp is the index operation that adds (or removes) in.
func (s *Store) incidentIndexOp(in store.Incident, add bool) op {
	kind := "zadd"
	if !add {
		kind = "zrem"
	}
	return op{kind, s.tkey(in.Target, "incidents"), record.SortKeyHex(in.OpenedAt, in.ID)}
}

// CreateIncident stores a new incident; ErrExists if the ID is taken. The
// create is a compare-and-set against absence, so of several replicas
// racing to open the same incident exactly one succeeds.
func (s *Store) CreateIncident(ctx context.Context, in store.Incident) error {
	if in.ID == "" {
		return fmt.Errorf("create incident: %w", record.ErrNoID)
	}
	raw, err := encode(in)
	if err != nil {
		return err
	}
	if err := s.register(ctx, incidentDir, in.ID, in.Target); err != nil {
		return fmt.Errorf("create incident %s: %w", in.ID, err)
	}
	ok, err := s.cas(ctx, s.tkey(in.Target, "incident:"+in.ID), "", raw, s.incidentIndexOp(in, true))
	if err == nil && !ok {
		err = store.ErrExists
	}
	if err != nil {
		return fmt.Errorf("create incident %s: %w", in.ID, err)
	}
	return nil
}

// GetIncident returns one incident; ErrNotFound if absent.
func (s *Store) GetIncident(ctx context.Context, id string) (store.Incident, error) {
	var in store.Incident
	target, err := s.lookup(ctx, incidentDir, id)
	if err == nil {
		var raw string
		if raw, err = s.getRaw(ctx, s.tkey(target, "incident:"+id)); err == nil {
			err = decode(raw, &in)
		}
	}
	if err != nil {
		return store.Incident{}, fmt.Errorf("get incident %s: %w", id, err)
	}
	return in, nil
}

// UpdateIncident reads the incident, applies fn and writes it back with a
// compare-and-set, retrying on a lost race; fn may run more than once.
func (s *Store) UpdateIncident(ctx context.Context, id string, fn func(*store.Incident) error) (store.Incident, error) {
	target, err := s.lookup(ctx, incidentDir, id)
	if err != nil {
		return store.Incident{}, fmt.Errorf("update incident %s: %w", id, err)
	}
	var out store.Incident
	var fnErr error
	err = s.updateRaw(ctx, s.tkey(target, "incident:"+id), func(oldRaw string) (string, []op, error) {
		if oldRaw == "" {
			return "", nil, store.ErrNotFound
		}
		var old, in store.Incident
		if err := decode(oldRaw, &old); err != nil {
			return "", nil, err
		}
		_ = decode(oldRaw, &in)
		if fnErr = fn(&in); fnErr != nil {
			return "", nil, fnErr
		}
		if in.ID != old.ID || in.Target != old.Target {
			return "", nil, record.ErrImmutable
		}
		in.Revision = old.Revision + 1
		raw, err := encode(in)
		if err != nil {
			return "", nil, err
		}
		out = in
		return raw, []op{s.incidentIndexOp(old, false), s.incidentIndexOp(in, true)}, nil
	})
	if fnErr != nil {
		return store.Incident{}, fnErr
	}
	if err != nil {
		return store.Incident{}, fmt.Errorf("update incident %s: %w", id, err)
	}
	return out, nil
}

// ListIncidents returns incidents newest first (by OpenedAt, then ID);
// target "" means all, limit <= 0 means no limit.
func (s *Store) ListIncidents(ctx context.Context, target string, limit int) ([]store.Incident, error) {
	var out []store.Incident
	err := s.listIndexed(ctx, target, "incidents", "incident:", limit, func(raw string) error {
		var in store.Incident
		if err := decode(raw, &in); err != nil {
			return err
		}
		out = append(out, in)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list incidents: %w", err)
	}
	return out, nil
}
