package actuator

// The test binary doubles as the program that exec hooks run and as the
// daemon process the crash test kills: TestMain dispatches on
// ACTUATOR_HELPER before running any test.

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

const helperEnv = "ACTUATOR_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "env": // write the environment to $ACT_OUT
		write(os.Getenv("ACT_OUT"), strings.Join(os.Environ(), "\n"))
		os.Exit(0)
	case "hang": // write the pid to $ACT_OUT, then never return
		write(os.Getenv("ACT_OUT"), fmt.Sprint(os.Getpid()))
		time.Sleep(time.Hour) // the program under test must kill us
		os.Exit(4)
	case "append": // append one line naming the incident to $ACT_OUT
		f, err := os.OpenFile(os.Getenv("ACT_OUT"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
		if err != nil {
			os.Exit(2)
		}
		fmt.Fprintln(f, os.Getenv("CANARYD_INCIDENT"))
		_ = f.Close()
		os.Exit(0)
	case "crash": // run a plan and SIGKILL ourselves after journal write K
		os.Exit(runCrashChild())
	default:
		os.Exit(3)
	}
}

func write(path, s string) {
	if err := os.WriteFile(path+".tmp", []byte(s), 0o600); err != nil {
		os.Exit(2)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		os.Exit(2)
	}
}

// helperHook is an exec hook that runs this test binary in mode.
func helperArgv() []string { return []string{os.Args[0]} }
