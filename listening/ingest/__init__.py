"""Event ingestion: validate, deduplicate by the source's id, store, apply the trigger rules.

One module per job, imported directly (this package re-exports nothing, so no module imports
the package while the package imports it):

- `validate`: decode and check an event, split a batch body;
- `answers`: what ingesting an event did (`Outcome`) and its JSON answer;
- `jobs`: a caller's events as one unit of work, and what the server computes for them first;
- `batch`: a transaction's events deduplicated by id, and each caller's outcomes;
- `planner`: pure decisions for both engines: merged customers, erasure, suppression, the rules,
  and the rows they write;
- `sqlite_writer`, `postgres_writer`: each engine's transaction, I/O only;
- `ingestor`: the process's group-committing writer for the configured database;
- `drivers`: single events and the CLI, batches, and NDJSON files.
"""
