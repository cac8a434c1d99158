"""Model-agnostic training plumbing: fit and resume, checkpoint IO, precision, schedules."""
