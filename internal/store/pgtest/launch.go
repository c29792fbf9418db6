package pgtest

import (
	"context"
	"fmt"
)

// Launch starts the cluster outside tests (the benchmarks): where Require
// would skip or fail a test, it returns the error. Stop the cluster when
// done; if the process dies first, the cluster's watchdog stops it.
func (c *Cluster) Launch() error {
	c.once.Do(func() { c.err = c.start() })
	return c.err
}

// CreateDatabase creates an empty database of a launched cluster and
// returns its URL; it stays until the cluster stops.
func (c *Cluster) CreateDatabase(ctx context.Context, name string) (string, error) {
	if c.admin == nil {
		return "", fmt.Errorf("create database %s: the cluster is not running", name)
	}
	if _, err := c.admin.ExecContext(ctx, `CREATE DATABASE `+pgIdent(name)); err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	return c.url(name), nil
}

// DatabaseSize is the size on disk of a database of the cluster
// (pg_database_size), in bytes.
func (c *Cluster) DatabaseSize(ctx context.Context, name string) (int64, error) {
	if c.admin == nil {
		return 0, fmt.Errorf("size of %s: the cluster is not running", name)
	}
	var n int64
	err := c.admin.QueryRowContext(ctx, `SELECT pg_database_size($1)`, name).Scan(&n)
	return n, err
}

// Version is the server's version (SHOW server_version).
func (c *Cluster) Version(ctx context.Context) string {
	var v string
	if c.admin == nil || c.admin.QueryRowContext(ctx, `SHOW server_version`).Scan(&v) != nil {
		return "unknown"
	}
	return v
}

// DropDatabase drops a database of a launched cluster, closing its
// connections.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	if c.admin == nil {
		return fmt.Errorf("drop database %s: the cluster is not running", name)
	}
	if _, err := c.admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+pgIdent(name)+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}
