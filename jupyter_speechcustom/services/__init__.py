"""What a user does, as plain Python: the workspace's jobs, comparisons of systems, the customization chain."""
