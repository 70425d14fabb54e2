"""Read models over the DuckDB warehouse the sync publishes: one module per thing the
console shows, all reading through the connections of `snapshots`."""
