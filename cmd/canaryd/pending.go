package main

import "context"

func cmdReplay(context.Context, *cliEnv, []string) error { return notYet("replay") }
