"""One run: the worker process, the run driver, and the workflow API a script sees."""
