"""The run folder contract: file names, atomic writes, status.json, the metrics record schema and its readers."""
