"""Ready-made services that carry useful metrics in their heartbeats."""
