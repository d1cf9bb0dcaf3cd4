"""BlindAI Telemetry: the privacy-first usage telemetry SDK (`Telemetry`, `track()`, `flush()`, `shutdown()`).

`blindai_telemetry.privacy` holds the rules for what may leave a process (scrubber, model-name policy, opt-out);
the collector applies the same ones to what it receives.

Importing this package imports the standard library only: the collector's dependencies (FastAPI, DuckDB,
…) load with `blindai_telemetry.collector`, never with the SDK.
"""

__version__ = "0.1.0"

from blindai_telemetry import privacy
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
    "privacy",
]
