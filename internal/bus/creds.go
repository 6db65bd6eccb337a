package bus

import (
	"fmt"
	"os"
)

// checkCredsFile is where a .creds file is judged before it is used. Today
// it must exist. The bus-identity work (per-identity credentials) adds its
// checks here — a file readable by others refused with a message naming the
// file, an expired JWT — so every process refuses the same files the same
// way.
func checkCredsFile(path string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("nats creds file: %w", err)
	}
	return nil
}
