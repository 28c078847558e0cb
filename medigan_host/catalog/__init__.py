"""The catalog's features: search and ranking over a :class:`~medigan_host.registry.Catalog` they are given.
Depends on the core only."""
