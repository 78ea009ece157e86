package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/store/backend"
)

// checkStorePersistence warns when the Redis store would lose canaryd's
// state on a restart: neither AOF nor RDB snapshots enabled. canaryd
// recovers known-good versions from CloudWatch and pages when its store
// comes back empty, but incidents, journals and held promotions are gone.
func checkStorePersistence(ctx context.Context, w io.Writer, c config.Store) {
	if c.Backend != "redis" {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	client := backend.RedisClient(c.Redis)
	defer client.Close()
	aof, err := client.ConfigGet(ctx, "appendonly").Result()
	if err != nil {
		fmt.Fprintf(w, "store: WARN could not verify Redis persistence (%v): make sure AOF (appendonly yes) or RDB snapshots are on; without them a Redis restart loses canaryd's state\n", err)
		return
	}
	save, err := client.ConfigGet(ctx, "save").Result()
	if err != nil {
		fmt.Fprintf(w, "store: WARN could not verify Redis snapshots (%v)\n", err)
		return
	}
	switch {
	case aof["appendonly"] == "yes":
		fmt.Fprintln(w, "store: Redis persistence ok (AOF)")
	case save["save"] != "":
		fmt.Fprintf(w, "store: Redis persistence: RDB snapshots only (%q): a crash loses the writes since the last snapshot; appendonly yes is safer\n", save["save"])
	default:
		fmt.Fprintln(w, "store: WARN Redis has no persistence (appendonly no, no save points): a restart loses canaryd's watches, incidents and journals; set appendonly yes")
	}
}
