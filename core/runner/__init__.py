"""A run's life from the outside: start, queue, stop, resume, relaunch, history, export."""
