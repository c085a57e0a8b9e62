"""Run machinery that knows nothing about recurrent networks: the runs store (one SQLite database
per runs folder), the executors that run a sweep of run specs through a run function, and the
HTML report."""
