"""onnxruntime, imported with its own telemetry switched off.

Official onnxruntime builds ship Microsoft's 1DS telemetry, ON by default on Linux too (see onnxruntime's
Privacy.md): at import they keep a persistent device id in ~/.cache/Microsoft/DeveloperTools/.onnxruntime/,
an offline event database beside it and a `.ses` file in the temporary directory, and upload trace events to
Microsoft. A reference server of a privacy-first telemetry project must not do that behind its users' backs.
`ORT_DISABLE_TELEMETRY=1` set before onnxruntime initialises prevents the uploader, the events and the device
id for the process (measured: no file is written); a user who set the variable explicitly keeps their value.
If onnxruntime was imported earlier by the host application, the variable comes too late, so the API switch
for non-essential events is also turned off.
"""

from __future__ import annotations

import os

os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

import onnxruntime as ort

ort.disable_telemetry_events()

__all__ = ["ort"]
