package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/openresync/resync"
	"github.com/openresync/resync/internal/migrate"
	"github.com/openresync/resync/storage"
)

// ErrSchemaTooNew is returned by Open and New when the database schema was
// migrated by a newer release of this package than the running one: the
// code must be upgraded (it never downgrades a schema).
var ErrSchemaTooNew = errors.New("postgres: database schema is newer than this code")

// DefaultSchema is the PostgreSQL schema the store's tables live in unless
// Config.Schema names another.
const DefaultSchema = "resync"

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Store is a resync.Store on PostgreSQL, safe for concurrent use by many
// goroutines and many processes sharing one database. Create it with Open
// or New.
type Store struct {
	pool     *pgxpool.Pool
	ownsPool bool
	schema   string // quoted identifier
	rawName  string // schema name as given
	log      *slog.Logger
	copyMin  int
}

var (
	_ storage.Store       = (*Store)(nil)
	_ storage.HeldDecider = (*Store)(nil)
)

// Config configures a Store. The zero Config is the default.
type Config struct {
	// Schema is the PostgreSQL schema that holds the store's tables,
	// created if missing. Several stores can share a database in separate
	// schemas. Default DefaultSchema.
	Schema string
	// Logger receives migrations and other rare events. Default:
	// discarded.
	Logger *slog.Logger
}

// Open connects to the database at url (a PostgreSQL URL or key=value
// connection string, as pgxpool.ParseConfig accepts), migrates the schema
// and returns a Store that owns its connection pool: Close closes it.
func Open(ctx context.Context, url string, cfg Config) (*Store, error) {
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: postgres: parsing connection string: %w", resync.ErrInvalidRequest, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: connecting: %w", err)
	}
	s, err := New(ctx, pool, cfg)
	if err != nil {
		pool.Close()
		return nil, err
	}
	s.ownsPool = true
	return s, nil
}

// New returns a Store using pool, after migrating the schema. The caller
// keeps ownership of pool: Close does not close it.
func New(ctx context.Context, pool *pgxpool.Pool, cfg Config) (*Store, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: postgres: nil pool", resync.ErrInvalidRequest)
	}
	if cfg.Schema == "" {
		cfg.Schema = DefaultSchema
	}
	if err := checkText("schema name", cfg.Schema); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{pool: pool, schema: pgx.Identifier{cfg.Schema}.Sanitize(), rawName: cfg.Schema, log: cfg.Logger, copyMin: 64}
	if err := s.migrate(ctx, cfg.Schema); err != nil {
		return nil, err
	}
	return s, nil
}

// Close closes the connection pool if Open created it; a pool handed to
// New stays open.
func (s *Store) Close() {
	if s.ownsPool {
		s.pool.Close()
	}
}

// Pool returns the store's connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// sql replaces {schema} in q with the store's quoted schema name.
func (s *Store) sql(q string) string { return strings.ReplaceAll(q, "{schema}", s.schema) }

func loadMigrations() ([]migrate.Migration, error) {
	ms, err := migrate.Load(migrationFiles, "migrations")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return ms, nil
}

// SchemaVersion is the schema version this release of the package
// migrates databases to.
func SchemaVersion() int {
	m, err := loadMigrations()
	if err != nil {
		return 0
	}
	return len(m)
}

// lockKey is the advisory lock key that serializes migrations of one schema.
func lockKey(schema string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("resync/stores/postgres migrate\x00" + schema))
	return int64(h.Sum64())
}

// migrate brings the schema to the newest version in one transaction that
// holds an advisory lock, so that processes starting together migrate once
// and the others wait for it and find nothing to do.
func (s *Store) migrate(ctx context.Context, schemaName string) error {
	migs, err := loadMigrations()
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", lockKey(schemaName)); err != nil {
			return fmt.Errorf("taking the migration lock: %w", err)
		}
		if _, err := tx.Exec(ctx, s.sql(`CREATE SCHEMA IF NOT EXISTS {schema}`)); err != nil {
			return fmt.Errorf("creating schema: %w", err)
		}
		if _, err := tx.Exec(ctx, s.sql(`CREATE TABLE IF NOT EXISTS {schema}.schema_version (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`)); err != nil {
			return fmt.Errorf("creating schema_version: %w", err)
		}
		var cur int
		if err := tx.QueryRow(ctx, s.sql(`SELECT coalesce(max(version), 0) FROM {schema}.schema_version`)).Scan(&cur); err != nil {
			return fmt.Errorf("reading schema version: %w", err)
		}
		if cur > len(migs) {
			return fmt.Errorf("%w: schema %s is at version %d, this code knows versions up to %d; upgrade the code",
				ErrSchemaTooNew, s.schema, cur, len(migs))
		}
		for _, m := range migs[cur:] {
			if _, err := tx.Exec(ctx, s.sql(m.SQL)); err != nil {
				return fmt.Errorf("applying migration %s: %w", m.Name, err)
			}
			if _, err := tx.Exec(ctx, s.sql(`INSERT INTO {schema}.schema_version (version, name) VALUES ($1, $2)`), m.Version, m.Name); err != nil {
				return fmt.Errorf("recording migration %s: %w", m.Name, err)
			}
			s.log.Info("postgres: applied migration", "schema", schemaName, "version", m.Version, "name", m.Name)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrSchemaTooNew) {
			return err
		}
		return fmt.Errorf("postgres: migrating schema %s: %w", s.schema, err)
	}
	return nil
}
