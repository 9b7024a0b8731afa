package migrate_test

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/openresync/resync/internal/migrate"
)

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_more.sql": {Data: []byte("B")},
		"m/0001_init.sql": {Data: []byte("A")},
		"m/README.md":     {Data: []byte("not a migration")},
	}
	ms, err := migrate.Load(fsys, "m")
	require.NoError(t, err)
	assert.Equal(t, []migrate.Migration{{1, "0001_init.sql", "A"}, {2, "0002_more.sql", "B"}}, ms)
}

func TestLoadErrors(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"no number": {"m/init.sql": {}},
		"gap":       {"m/0001_a.sql": {}, "m/0003_c.sql": {}},
		"twice":     {"m/0001_a.sql": {}, "m/1_b.sql": {}},
		"no dir":    {},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := migrate.Load(fsys, "m")
			assert.Error(t, err)
		})
	}
}
