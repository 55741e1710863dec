"""Scale paths: checks over sharded usage logs on Ray Data (``shards``), and counts-based
agreement and rates computed out of core with DuckDB (``counts``)."""
