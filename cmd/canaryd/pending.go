package main

import "context"

func cmdRun(context.Context, *cliEnv, []string) error      { return notYet("run") }
func cmdDemo(context.Context, *cliEnv, []string) error     { return notYet("demo") }
func cmdStatus(context.Context, *cliEnv, []string) error   { return notYet("status") }
func cmdOverride(context.Context, *cliEnv, []string) error { return notYet("override") }
func cmdRollback(context.Context, *cliEnv, []string) error { return notYet("rollback") }
func cmdHistory(context.Context, *cliEnv, []string) error  { return notYet("history") }
func cmdReplay(context.Context, *cliEnv, []string) error   { return notYet("replay") }
