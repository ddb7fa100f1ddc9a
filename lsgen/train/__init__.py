"""Training utilities written once for every model: optimizer steps, EMA, schedules, MPI, loop."""
