package replay_test

import (
	"context"
	"fmt"
	"os"

	"github.com/canaryd/canaryd/config"
	"github.com/canaryd/canaryd/replay"
)

// What `canaryd replay` does with a trace and a target.
func ExampleRun() {
	cfg, err := config.Load("../testdata/traces/target.toml")
	if err != nil {
		panic(err)
	}
	f, err := os.Open("../testdata/traces/error-spike.jsonl")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	res, err := replay.Run(context.Background(), f, cfg.Targets[0], replay.Options{})
	if err != nil {
		fmt.Println(err)
		os.Exit(replay.ExitBadInput)
	}
	fmt.Println(res.Outcome, res.DecidedAt.Sub(res.WatchStart), res.ExitCode())
	// Output: rolled_back 4m5s 3
}
