"""`make bench` and `make soak`: what users feel, measured on loopback against the framework's own floors.

- `python -m benchmarks` (suite.py): slash commands on a store of 1,000,000 runs, webhook ingest, failure to
  alert, one tracking cycle, memory; `--quick` for tiny sizes, `--postgres` for PostgreSQL.
- `python -m benchmarks.soak` (soak.py): a bounded soak under injected Slack and platform faults.

Results go to `benchmarks/RESULTS.md` (each run replaces its own section); generated stores are cached
under `benchmarks/out/` (gitignored).
"""
