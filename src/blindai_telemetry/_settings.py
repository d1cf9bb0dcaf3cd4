"""Telemetry's settings, resolved once and in one place: arguments > environment > the user's config file > defaults.

`Settings.resolve(arguments, environ, user_config)` is a pure function of what it is given (it reads the config
file when `user_config` is not given, and never writes anything). `Telemetry(...)` resolves its arguments with it
before anything else, and becomes a no-op when `disabled_because` is set; `blindai-telemetry status` and the demo
resolve the same way with no arguments, so that what they report is what an application on this machine would do.
"""

from __future__ import annotations

import math
import numbers
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from blindai_telemetry import _config, catalogue
from blindai_telemetry import environment_variables as ev
from blindai_telemetry.privacy import MODEL_NAME_POLICIES, Decision, telemetry_decision

if TYPE_CHECKING:
    from blindai_telemetry._transport import Transport

#: Seconds between deliveries when neither `flush_interval=` nor its variable says otherwise (the original's).
DEFAULT_FLUSH_INTERVAL = 2.0
#: A flush interval outside (0, one day) is a mistake, not a wish: the default is used instead.
_MAX_FLUSH_INTERVAL = 86_400.0
_FALSE_WORDS = ("", "0", "false", "no", "off")

#: Where batches go: printed (debug mode), a transport object the application gave, Amplitude's HTTP V2 API, or
#: a collector over HTTP. Which one is decided by `_destination`.
DESTINATIONS = ("debug", "transport", "amplitude", "http")


@dataclass(frozen=True)
class Settings:
    """Everything `Telemetry` needs to know before it starts, each value with where it came from.

    - `decision`: the opt-out (`privacy.telemetry_decision`); `disabled_because` adds "nowhere to send".
    - `destination`: one of DESTINATIONS, or None; `destination_source` names the variable or argument.
    - `endpoint`: the collector URL (`BLINDAI_TELEMETRY_ENDPOINT`, else `endpoint=`), used when the destination
      is `http`; `endpoint_source` says which.
    - `problems`: mistakes in the arguments or the environment, each replaced by a safe default (never raised).
    """

    decision: Decision
    config_dir: Path
    destination: str | None = None
    destination_source: str | None = None
    endpoint: str | None = None
    endpoint_source: str | None = None
    debug: str | None = None
    flush_interval: float = DEFAULT_FLUSH_INTERVAL
    mode: str | None = None
    ci_variable: str | None = None
    model_names: str = "hashed"
    problems: tuple[str, ...] = ()
    transport: Transport | None = field(default=None, repr=False, compare=False)
    amplitude_api_key: str | None = field(default=None, repr=False)
    write_key: str | None = field(default=None, repr=False)

    @property
    def is_ci(self) -> bool:
        return self.ci_variable is not None

    @property
    def disabled_because(self) -> str | None:
        """Why telemetry is off, or None when it is on (enabled, and somewhere to send to)."""
        if not self.decision.enabled:
            return self.decision.reason
        if self.destination is None:
            return (f"nowhere to send: no endpoint=, amplitude_api_key= or transport=, and "
                    f"{ev.BLINDAI_TELEMETRY_ENDPOINT} is not set")
        return None

    @classmethod
    def resolve(cls, arguments: Mapping[str, Any], environ: Mapping[str, str],
                user_config: _config.UserConfig | None = None) -> Settings:
        """Resolve `Telemetry`'s `arguments` (by parameter name; absent means not passed) against `environ` and
        the user's config (read from the config directory when not given)."""
        problems: list[str] = []
        directory = arguments.get("config_dir")
        config_dir = Path(directory) if directory is not None else _config.config_dir(environ)
        if user_config is None:
            user_config = _config.load_user_config(config_dir)
        enabled = arguments.get("enabled")
        decision = telemetry_decision(environ, user_config, argument=enabled if isinstance(enabled, bool) else None)
        debug = debug_value(environ)
        endpoint, endpoint_source = _endpoint(arguments, environ, problems)
        destination, destination_source = _destination(arguments, debug, endpoint, endpoint_source)
        return cls(
            decision=decision, config_dir=config_dir, destination=destination,
            destination_source=destination_source, endpoint=endpoint, endpoint_source=endpoint_source,
            debug=debug, flush_interval=_flush_interval(arguments.get("flush_interval"), environ, problems),
            mode=_mode(arguments.get("mode"), environ, problems), ci_variable=ci_variable(environ),
            model_names=_model_names(arguments.get("model_names", "hashed"), problems),
            problems=tuple(problems), transport=arguments.get("transport"),
            amplitude_api_key=_text(arguments.get("amplitude_api_key")),
            write_key=_text(arguments.get("write_key")),
        )

    def make_transport(self) -> Transport:
        """The transport the destination names (deferred imports: a disabled process never loads them)."""
        from blindai_telemetry._amplitude import AmplitudeTransport
        from blindai_telemetry._http import HttpTransport
        from blindai_telemetry._transport import DebugTransport

        if self.destination == "debug":
            return DebugTransport()
        if self.destination == "transport" and self.transport is not None:
            return self.transport
        if self.destination == "amplitude" and self.amplitude_api_key:
            return AmplitudeTransport(self.amplitude_api_key)
        if self.destination == "http" and self.endpoint is not None:
            return HttpTransport(self.endpoint, self.write_key)
        raise ValueError(f"telemetry is off ({self.disabled_because}): there is no transport to make")


def debug_value(environ: Mapping[str, str]) -> str | None:
    """`BLINDAI_TELEMETRY_DEBUG`'s value when it turns debug mode on: set, not blank, and not a false word."""
    value = environ.get(ev.BLINDAI_TELEMETRY_DEBUG)
    return value if value is not None and value.strip() and ev.is_opt_out_value(value) else None


def ci_variable(environ: Mapping[str, str]) -> str | None:
    """The name of the CI variable that is set, or None when not running in CI."""
    for name in ev.CI_VARIABLES:
        value = environ.get(name)
        if value is not None and value.strip().lower() not in _FALSE_WORDS:
            return name
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _endpoint(arguments: Mapping[str, Any], environ: Mapping[str, str],
              problems: list[str]) -> tuple[str | None, str | None]:
    """The collector URL and its source: the variable overrides the application's `endpoint=`. One that is not an
    http(s) URL is a problem, and no endpoint: telemetry stays off rather than raising into the host app."""
    candidates = ((environ.get(ev.BLINDAI_TELEMETRY_ENDPOINT), ev.BLINDAI_TELEMETRY_ENDPOINT),
                  (arguments.get("endpoint"), "endpoint="))
    for value, source in candidates:
        if value is None or value == "":
            continue
        url = urllib.parse.urlsplit(value) if isinstance(value, str) else None
        if url is not None and url.scheme in ("http", "https") and url.hostname:
            return value, source
        problems.append(f"the endpoint ({source}) is not an http(s) URL; telemetry is off")
        return None, source
    return None, None


def _destination(arguments: Mapping[str, Any], debug: str | None, endpoint: str | None,
                 endpoint_source: str | None) -> tuple[str | None, str | None]:
    """Where batches go: debug > transport= > the endpoint variable > amplitude_api_key= > endpoint=."""
    if debug is not None:
        return "debug", ev.BLINDAI_TELEMETRY_DEBUG
    if arguments.get("transport") is not None:
        return "transport", "transport="
    if endpoint_source == ev.BLINDAI_TELEMETRY_ENDPOINT:  # set, even when invalid: it overrides what follows
        return ("http", endpoint_source) if endpoint else (None, None)
    if _text(arguments.get("amplitude_api_key")):
        return "amplitude", "amplitude_api_key="
    return ("http", endpoint_source) if endpoint else (None, None)


def _flush_interval(argument: object, environ: Mapping[str, str], problems: list[str]) -> float:
    if argument is not None:
        seconds = _seconds(argument)
        if seconds is not None:
            return seconds
        problems.append(f"flush_interval must be a number of seconds in (0, {_MAX_FLUSH_INTERVAL:g}); ignored")
    raw = environ.get(ev.BLINDAI_TELEMETRY_FLUSH_INTERVAL)
    if raw:
        try:
            seconds = _seconds(float(raw))
        except ValueError:
            seconds = None
        if seconds is not None:
            return seconds
        problems.append(f"{ev.BLINDAI_TELEMETRY_FLUSH_INTERVAL}={raw!r} is not a number of seconds; ignored")
    return DEFAULT_FLUSH_INTERVAL


def _seconds(value: object) -> float | None:
    """`value` as float seconds when it is a plausible interval (a number in (0, one day)), else None."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return None
    seconds = float(value)
    return seconds if math.isfinite(seconds) and 0.0 < seconds < _MAX_FLUSH_INTERVAL else None


def _mode(mode: object, environ: Mapping[str, str], problems: list[str]) -> str | None:
    """A server's mode: `dcsv3` when BLINDAI_AZURE_DCSV3_PATCH is set (same truthiness rule as the kill switch),
    else the mode it runs in. Clients pass no mode and report none, on a DCsv3 machine too."""
    if mode is None:
        return None
    if ev.is_opt_out_value(environ.get(ev.BLINDAI_AZURE_DCSV3_PATCH)):
        return "dcsv3"
    if mode in catalogue.MODES:
        return str(mode)
    problems.append(f"mode must be one of {catalogue.MODES}; no mode is reported")
    return None


def _model_names(policy: object, problems: list[str]) -> str:
    if isinstance(policy, str) and policy in MODEL_NAME_POLICIES:
        return policy
    problems.append(f"model_names must be one of {MODEL_NAME_POLICIES}; using 'hashed'")  # the safe default
    return "hashed"
