"""BlindAI Telemetry: the privacy-first usage telemetry SDK (`Telemetry`, `track()`, `flush()`, `shutdown()`)."""

__version__ = "0.1.0"
