"""The pytest wiring of the suite: the plugin, the settings read from ``LOWRANK_BENCH_*``, and the selection of
cases from a profile."""
