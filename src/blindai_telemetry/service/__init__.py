"""What the collector and the dashboard both need, below both: neither imports the other for it (`auth`)."""
