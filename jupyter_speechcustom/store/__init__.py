"""The on-disk store: records, files, statuses and job state of a workspace, and customization bundles."""
