"""The plugin host: hooks, roles, the registry and plugin loading, the task contract, contexts, the training loop,
the clock."""
