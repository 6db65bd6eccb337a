package facts

import (
	"errors"
	"io/fs"
	"path/filepath"
	"slices"
	"testing"
)

func TestLoadClasses(t *testing.T) {
	dir := t.TempDir()
	p := writeFile(t, dir, "classes.txt", "settings\n# managed by puppet\n\nroles::web\r\n  profile::nginx  \n", 0o644)
	got, err := LoadClasses(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"settings", "roles::web", "profile::nginx"}; !slices.Equal(got, want) {
		t.Errorf("LoadClasses = %q, want %q", got, want)
	}

	_, err = LoadClasses(filepath.Join(dir, "missing.txt"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: error %v, want fs.ErrNotExist", err)
	}
}
