package config

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestLoadBoundsEveryFileRead: a config or secret path naming an endless
// device or a huge file is an error naming the file and the limit, read
// without holding more than the limit in memory.
func TestLoadBoundsEveryFileRead(t *testing.T) {
	huge := filepath.Join(t.TempDir(), "huge.toml")
	f, err := os.Create(huge)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(MaxConfigBytes + 1); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	cases := []struct {
		name string
		load func() error
		want []string
	}{
		{"config is /dev/zero", func() error { _, err := Load("/dev/zero"); return err },
			[]string{"/dev/zero", "limit of " + strconv.Itoa(MaxConfigBytes) + " bytes"}},
		{"config is a huge file", func() error { _, err := Load(huge); return err },
			[]string{huge, "limit of " + strconv.Itoa(MaxConfigBytes) + " bytes"}},
		{"admin token file is /dev/zero", func() error {
			src := "[daemon]\nadmin_token_file = \"/dev/zero\"\n" + string(mustRead(t, "testdata/valid-minimal.toml"))
			_, err := Parse([]byte(src), "c.toml", Options{LookupEnv: noEnv})
			return err
		}, []string{"c.toml:2", "daemon.admin_token_file", "/dev/zero", "limit of " + strconv.Itoa(MaxSecretBytes) + " bytes"}},
		{"bytes over the limit", func() error {
			_, err := Parse(make([]byte, MaxConfigBytes+1), "big.toml", Options{LookupEnv: noEnv})
			return err
		}, []string{"big.toml", "limit of " + strconv.Itoa(MaxConfigBytes) + " bytes"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.load()
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestReadFileLimited(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s")
	if err := os.WriteFile(p, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		limit   int64
		wantErr bool
	}{
		{"under", 6, false},
		{"exactly", 5, false},
		{"over", 4, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, err := ReadFileLimited(p, tc.limit)
			if (err != nil) != tc.wantErr || (err == nil && string(b) != "12345") {
				t.Errorf("ReadFileLimited(limit %d) = %q, %v", tc.limit, b, err)
			}
		})
	}
	if _, err := ReadFileLimited(filepath.Join(t.TempDir(), "missing"), 10); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want ErrNotExist", err)
	}
}

// TestByteOrderMarkAccepted: a config saved with a UTF-8 BOM loads, and
// problems keep their line numbers.
func TestByteOrderMarkAccepted(t *testing.T) {
	bom := []byte{0xEF, 0xBB, 0xBF}
	cfg, err := Parse(append(bom, mustRead(t, "testdata/valid-minimal.toml")...), "bom.toml", Options{LookupEnv: noEnv})
	if err != nil {
		t.Fatalf("config with a BOM: %v", err)
	}
	if cfg.AWS.Region != "us-east-1" {
		t.Errorf("aws.region = %q", cfg.AWS.Region)
	}
	_, err = Parse(append(bom, mustRead(t, "testdata/invalid-unknown-key.toml")...), "bom.toml", Options{LookupEnv: noEnv})
	if err == nil || !strings.Contains(err.Error(), "bom.toml:9: target[0].bake_tme: unknown key") {
		t.Errorf("error %v, want the unknown key on line 9", err)
	}
}
