// Package backend opens the store a config names: the embedded bolt file or
// Redis (single node, Sentinel or Cluster).
package backend

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/redis/go-redis/v9"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store"
	"github.com/canaryd/canaryd/store/boltstore"
	"github.com/canaryd/canaryd/store/redisstore"
)

// Open opens the configured backend: the bolt file, or Redis (single,
// Sentinel or Cluster) shared by replicas.
func Open(ctx context.Context, c config.Store, clock clockwork.Clock) (store.Store, error) {
	switch c.Backend {
	case "redis":
		client := RedisClient(c.Redis)
		if err := client.Ping(ctx).Err(); err != nil {
			_ = client.Close()
			return nil, fmt.Errorf("store: redis %v: %w", c.Redis.Addrs, err)
		}
		st, err := redisstore.New(redisstore.Options{Client: client, Prefix: c.Redis.KeyPrefix, Clock: clock})
		if err != nil {
			_ = client.Close()
			return nil, err
		}
		return closeBoth{st, client}, nil
	default:
		st, err := boltstore.Open(c.Path, boltstore.Options{Clock: clock})
		if err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
		return st, nil
	}
}

// clusterStateReload is how often a Cluster client re-reads the slot map.
// A master that died never answers MOVED, so until the client re-reads the
// map it sends the dead master's slots to it: go-redis's default, a minute,
// left the store unusable that long after a replica had taken over.
const clusterStateReload = 2 * time.Second

// RedisClient builds a UniversalClient from a connection config.
func RedisClient(c config.RedisConn) redis.UniversalClient {
	o := &redis.UniversalOptions{
		Addrs: c.Addrs, MasterName: c.MasterName, Username: c.Username,
		Password: c.Password.Value(), DB: c.DB, IsClusterMode: c.Cluster,
	}
	if c.TLS {
		o.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if o.MasterName == "" && (o.IsClusterMode || len(o.Addrs) > 1) { // what NewUniversalClient makes a Cluster
		co := o.Cluster()
		co.ClusterStateReloadInterval = clusterStateReload
		return redis.NewClusterClient(co)
	}
	return redis.NewUniversalClient(o)
}

// closeBoth is the Redis store plus the client it does not close itself.
type closeBoth struct {
	*redisstore.Store
	client redis.UniversalClient
}

var _ store.LeaseBatcher = closeBoth{}

func (c closeBoth) Close() error {
	err := c.Store.Close()
	if cerr := c.client.Close(); err == nil {
		err = cerr
	}
	return err
}
