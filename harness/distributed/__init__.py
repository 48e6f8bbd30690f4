"""Parameter-server jobs: launch and supervise, worker, node, exchange, shards, scaling rows."""
