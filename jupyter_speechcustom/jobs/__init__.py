"""Long work in the background: progress, cancellation, logs and results."""
