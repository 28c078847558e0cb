"""The plugin author's kit: the contract checks (``medigan check``, :mod:`medigan_host.devkit.testing`), the plugin scaffold
(``medigan new``) and the local weights server for tests. Depends on the core only."""
