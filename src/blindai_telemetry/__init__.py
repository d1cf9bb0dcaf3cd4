"""BlindAI Telemetry: the privacy-first usage telemetry SDK (`Telemetry`, `track()`, `flush()`, `shutdown()`).

Importing this package imports the standard library only: the collector's dependencies (FastAPI, DuckDB,
…) load with `blindai_telemetry.collector`, never with the SDK.
"""

__version__ = "0.1.0"

from blindai_telemetry._amplitude import AmplitudeTransport
from blindai_telemetry._context import ClientInfo
from blindai_telemetry._http import HttpTransport
from blindai_telemetry._telemetry import Telemetry
from blindai_telemetry._transport import InMemoryTransport, Outcome, SendResult, Transport

__all__ = [
    "AmplitudeTransport",
    "ClientInfo",
    "HttpTransport",
    "InMemoryTransport",
    "Outcome",
    "SendResult",
    "Telemetry",
    "Transport",
    "__version__",
]
