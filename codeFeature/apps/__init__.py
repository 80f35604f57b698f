"""What people run: the CLI, the HTTP API, the batch command and the report."""
