package config

import (
	"fmt"
	"io"
	"os"
)

// Bounds on the files the loader reads, so that a mistaken path
// (--config /dev/zero, admin_token_file = /dev/urandom) is an error naming
// the file and the limit, not an out-of-memory kill.
const (
	MaxConfigBytes = 32 << 20 // config.toml; 10,000 detailed targets fit in a fraction of it
	MaxSecretBytes = 64 << 10 // one secret file (a token, a key, a URL)
)

// utf8BOM is the byte order mark some editors put at the start of a file.
var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// ReadFileLimited reads path, refusing one larger than limit bytes; it never
// reads more than limit+1 bytes, whatever the file is (a device, a pipe).
func ReadFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > limit {
		return nil, tooLarge(path, limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, tooLarge(path, limit)
	}
	return b, nil
}

func tooLarge(path string, limit int64) error {
	return fmt.Errorf("%s is larger than the limit of %d bytes", path, limit)
}
