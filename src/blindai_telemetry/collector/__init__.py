"""The collector service: receives, validates, stores, deletes and forwards telemetry (extra `collector`)."""
