"""The run config: typed sections with defaults and help, field checks, the installed transformers' argument names."""
