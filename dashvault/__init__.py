"""The application: the command line, config loading, logging, metrics."""
