"""Training utilities shared by the tracks: schedules, optimisers, callbacks."""
