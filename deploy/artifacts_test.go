package deploy_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var pinned = regexp.MustCompile(`@sha256:[0-9a-f]{64}$`)

// TestDockerfile: base images pinned by digest, a non-root user, a health
// check the distroless image can run, the listener open to the container
// network.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	src := string(b)
	args := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^ARG ([A-Z_]+)=(\S+)`).FindAllStringSubmatch(src, -1) {
		args[m[1]] = m[2]
	}
	froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(src, -1)
	if len(froms) != 2 {
		t.Fatalf("%d FROM lines, want a build and a runtime stage", len(froms))
	}
	for _, m := range froms {
		img := m[1]
		if name, ok := strings.CutPrefix(img, "${"); ok {
			img = args[strings.TrimSuffix(name, "}")]
		}
		if !pinned.MatchString(img) {
			t.Errorf("FROM %s (%s) is not pinned by digest", m[1], img)
		}
	}
	for _, want := range []string{
		"USER 65532:65532",
		`CMD ["/usr/local/bin/canaryd", "healthcheck"]`,
		"ENV CANARYD_LISTEN=0.0.0.0:8080",
		"CGO_ENABLED=0",
	} {
		if !strings.Contains(src, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	if strings.Contains(src, "HEALTHCHECK NONE") {
		t.Error("Dockerfile disables the health check")
	}
}

// TestSystemdUnit: the unit is hardened and, where systemd-analyze is
// installed, verifies.
func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("systemd/canaryd.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"DynamicUser=yes", "ProtectSystem=strict", "ProtectHome=yes", "NoNewPrivileges=yes",
		"StateDirectory=canaryd", "PrivateTmp=yes", "PrivateDevices=yes", "CapabilityBoundingSet=\n", "SystemCallFilter=@system-service",
		"ExecStart=/usr/local/bin/canaryd run --config /etc/canaryd/config.toml", "ExecReload=/bin/kill -HUP $MAINPID"} {
		if !strings.Contains(unit, want) {
			t.Errorf("unit lacks %q", want)
		}
	}
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed")
	}
	// verify wants ExecStart's binary to exist: point it at one that does.
	tmp := filepath.Join(t.TempDir(), "canaryd.service")
	if err := os.WriteFile(tmp, []byte(strings.ReplaceAll(unit, "/usr/local/bin/canaryd", "/bin/true")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(sa, "verify", tmp).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
