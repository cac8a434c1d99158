"""Model-agnostic training plumbing: fit and resume, on one process or data-parallel on several,
checkpoint IO, the shared training loader, precision, schedules."""
