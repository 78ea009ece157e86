package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time: -ldflags "-X main.version=v1.2.3".
var version = ""

// buildVersion is the version and the VCS revision of this binary.
func buildVersion() (v, revision string) {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				revision = s.Value
			}
		}
	}
	v = version
	if v == "" {
		v = "dev"
		if len(revision) >= 12 {
			v = "dev-" + revision[:12]
		}
	}
	return v, revision
}

func versionString() string {
	v, _ := buildVersion()
	return fmt.Sprintf("canaryd %s (%s, %s/%s)", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func cmdVersion(_ context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "version")
	if _, err := parseInterleaved(fs, args); err != nil {
		return err
	}
	fmt.Fprintln(env.stdout, versionString())
	return nil
}
