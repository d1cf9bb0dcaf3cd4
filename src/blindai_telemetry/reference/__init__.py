"""A small BlindAI-style inference server and client, instrumented with the SDK (extra `reference`)."""
