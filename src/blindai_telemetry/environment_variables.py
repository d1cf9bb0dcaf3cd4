"""Every environment variable the project reads, as documented constants: the one place each is named."""

BLINDAI_DISABLE_TELEMETRY = "BLINDAI_DISABLE_TELEMETRY"
"""Kill switch. Any value but ``0``, ``false``, ``no``, ``off`` (any case) disables telemetry; an empty value
disables too (the original disabled on mere presence, and when in doubt we do not send)."""

DO_NOT_TRACK = "DO_NOT_TRACK"
"""The Console Do Not Track convention; same rule as :data:`BLINDAI_DISABLE_TELEMETRY`."""

BLINDAI_TELEMETRY_ENDPOINT = "BLINDAI_TELEMETRY_ENDPOINT"
"""Collector base URL; overrides the endpoint the host app configured."""

BLINDAI_TELEMETRY_DEBUG = "BLINDAI_TELEMETRY_DEBUG"
"""``1``: print every batch as JSON to stderr, prefixed ``[telemetry]``, and send nothing."""

BLINDAI_TELEMETRY_FLUSH_INTERVAL = "BLINDAI_TELEMETRY_FLUSH_INTERVAL"
"""Seconds between flushes; default ``2`` (the original's interval)."""

BLINDAI_AZURE_DCSV3_PATCH = "BLINDAI_AZURE_DCSV3_PATCH"
"""Set on Azure DCsv3 machines; the server then reports mode ``dcsv3``."""

BLINDAI_TELEMETRY_CONFIG_DIR = "BLINDAI_TELEMETRY_CONFIG_DIR"
"""Where the install id, the enable/disable setting and the transparency log live; defaults to the user's
config directory (platformdirs). The demo and the tests point it elsewhere so they never touch the user's."""

BLINDAI_TELEMETRY_ADMIN_TOKEN = "BLINDAI_TELEMETRY_ADMIN_TOKEN"
"""Admin token: the one ``blindai-telemetry serve`` requires (same as ``--admin-token``) and the one
``blindai-telemetry report --url`` sends to a collector's query API (same as ``--token``); an environment variable
keeps it off the process list."""

BLINDAI_TELEMETRY_FORWARD_AMPLITUDE_KEY = "BLINDAI_TELEMETRY_FORWARD_AMPLITUDE_KEY"
"""``serve --forward-amplitude-key``: the Amplitude API key the collector forwards accepted events with."""

BLINDAI_TELEMETRY_FORWARD_AMPLITUDE_SECRET_KEY = "BLINDAI_TELEMETRY_FORWARD_AMPLITUDE_SECRET_KEY"
"""``serve --forward-amplitude-secret-key``: Amplitude's secret key, for its User Privacy API (deletions)."""

#: Variables whose presence means "running in CI" (events are then tagged ``is_ci``).
CI_VARIABLES = (
    "CI", "CONTINUOUS_INTEGRATION", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "CIRCLECI", "TRAVIS",
    "JENKINS_URL", "TEAMCITY_VERSION", "TF_BUILD", "BITBUCKET_BUILD_NUMBER", "CODEBUILD_BUILD_ID",
    "DRONE", "APPVEYOR", "BUILD_ID",
)

_FALSE_WORDS = frozenset({"0", "false", "no", "off"})


def is_opt_out_value(value: str | None) -> bool:
    """True when an opt-out variable with this value disables telemetry (None means unset)."""
    if value is None:
        return False
    return value.strip().lower() not in _FALSE_WORDS
