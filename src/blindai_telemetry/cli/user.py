"""`blindai-telemetry` user commands: see and control what this machine sends (status, enable, disable, id,
inspect, catalogue, delete-my-data).

Every command reads and writes the config directory of `_config` (so `BLINDAI_TELEMETRY_CONFIG_DIR` is honoured)
and works with the SDK alone installed: no collector dependency is imported here.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import click

from blindai_telemetry import _config, catalogue
from blindai_telemetry import environment_variables as ev
from blindai_telemetry._settings import Settings
from blindai_telemetry.cli import _deletion, _views, _waiting
from blindai_telemetry.privacy import telemetry_decision

_OPT_OUT_VARIABLES = (ev.BLINDAI_DISABLE_TELEMETRY, ev.DO_NOT_TRACK)


class UserError(click.ClickException):
    """A failure explained to the user: what happened, then what to do; exit code 1."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(f"{message}\n{hint}" if hint else message)


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False))


def _machine_settings(cfg: _config.UserConfig | None = None) -> Settings:
    """The settings every application on this machine starts from: the environment and the user's config, before
    the application's own arguments (the SDK's own resolution, so that status says what the SDK does)."""
    return Settings.resolve({}, os.environ, cfg)


def _status_data() -> dict[str, Any]:
    directory = _config.config_dir()
    cfg = _config.load_user_config(directory)  # read only: status never creates an id or a file
    settings = _machine_settings(cfg)
    decision = settings.decision
    delivery = _waiting.delivery(directory)
    opt_outs = {name: os.environ[name] for name in _OPT_OUT_VARIABLES if name in os.environ}
    last_record = _config.read_sent_log(directory, limit=1)
    return {
        "enabled": decision.enabled,
        "source": decision.source,
        "reason": decision.reason,
        "opt_out_variables": opt_outs,
        "ci_variable": settings.ci_variable,
        "install_id": cfg.install_id,
        "previous_install_ids": cfg.previous_install_ids,
        "endpoint": settings.endpoint,
        "endpoint_source": settings.endpoint_source or "application",
        "problems": list(settings.problems),
        "last_endpoint": last_record[0].get("endpoint") if last_record else None,
        "config_dir": str(directory),
        "config_file": str(directory / _config.CONFIG_FILE),
        "config_setting": cfg.enabled,
        "last_sent_at": delivery["last_sent_at"],
        "dropped_total": delivery["lost"],
        "delivery": delivery,
        "notice_shown_at": cfg.notice_shown_at,
        "debug": settings.debug,
    }


def _how_to_change(data: dict[str, Any]) -> str:
    source = data["source"]
    if source in _OPT_OUT_VARIABLES:
        return f"To allow telemetry, unset {source} (or set it to 0, false, no or off)."
    if source == "config":
        if data["enabled"]:
            return "To turn it off: `blindai-telemetry disable` (or set BLINDAI_DISABLE_TELEMETRY=1)."
        return "To turn it back on: `blindai-telemetry enable`."
    if source == "argument":
        return "The application itself turned telemetry off; nothing is sent."
    return "To turn it off: `blindai-telemetry disable`, or set BLINDAI_DISABLE_TELEMETRY=1 or DO_NOT_TRACK=1."


def _status_lines(data: dict[str, Any]) -> list[str]:
    state = click.style("enabled", fg="green") if data["enabled"] else click.style("disabled", fg="yellow")
    lines = [f"Telemetry:   {state} — {data['reason']}", f"             {_how_to_change(data)}"]
    for name, value in data["opt_out_variables"].items():
        if name != data["source"]:
            effect = "also disables" if ev.is_opt_out_value(value) else "does not disable (0/false/no/off)"
            lines.append(f"             {name}={value!r} {effect}.")
    if data["ci_variable"] and data["enabled"]:
        lines.append(f"             Running in CI ({data['ci_variable']} is set): events are tagged is_ci, "
                     "so usage figures can leave them out.")
    if data["install_id"]:
        note = "" if data["enabled"] else " (not used while telemetry is disabled)"
        lines.append(f"Install id:  {data['install_id']}{note}")
    else:
        lines.append("Install id:  none yet" + ("" if data["enabled"] else " (none is created while disabled)"))
    if data["previous_install_ids"]:
        lines.append(f"             {len(data['previous_install_ids'])} previous id(s) kept for "
                     "`blindai-telemetry delete-my-data`")
    if data["endpoint"]:
        lines.append(f"Endpoint:    {data['endpoint']} (from {data['endpoint_source']})")
    else:
        lines.append(f"Endpoint:    set by the application ({ev.BLINDAI_TELEMETRY_ENDPOINT} overrides it)")
    lines.extend(f"Problem:     {problem}" for problem in data["problems"])
    if data["last_endpoint"] and data["last_endpoint"] != data["endpoint"]:
        lines.append(f"             the last batch went to {data['last_endpoint']}")
    lines.append(f"Config:      {data['config_file']}")
    last = _views.format_time_ms(data["last_sent_at"]) if data["last_sent_at"] is not None else "never"
    lines.append(f"Last batch:  {last} (see `blindai-telemetry inspect`)")
    lines.extend(_waiting.delivery_lines(data["delivery"]))
    if data["notice_shown_at"] is not None:
        lines.append(f"Notice:      first-run notice shown {_views.format_time_ms(data['notice_shown_at'])}")
    if data["debug"] is not None:
        lines.append(f"Debug mode:  on ({ev.BLINDAI_TELEMETRY_DEBUG}={data['debug']!r}): batches are printed to "
                     "stderr and nothing is sent")
    return lines


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")
def status(as_json: bool) -> None:
    """Show whether telemetry is enabled and why, the install id, endpoint and recent activity."""
    data = _status_data()
    if as_json:
        _echo_json(data)
    else:
        click.echo("\n".join(_status_lines(data)))


def _set_enabled(enabled: bool) -> None:
    directory = _config.config_dir()
    cfg = _config.load_user_config(directory)
    cfg.enabled = enabled
    if not _config.save_user_config(cfg, directory):
        raise UserError(f"Could not write {directory / _config.CONFIG_FILE}.",
                        f"Check the directory is writable, or set {ev.BLINDAI_DISABLE_TELEMETRY}=1 instead.")


@click.command()
def disable() -> None:
    """Turn telemetry off for this user (persisted in the config directory)."""
    _set_enabled(False)
    click.echo("Telemetry disabled: nothing will be collected or sent from this user account.")
    click.echo("Data already sent can be deleted with `blindai-telemetry delete-my-data`.")


@click.command()
def enable() -> None:
    """Turn telemetry back on for this user (the environment still wins when it disables)."""
    _set_enabled(True)
    decision = telemetry_decision()
    if decision.source in _OPT_OUT_VARIABLES:
        click.echo(f"Saved, but telemetry stays disabled: {decision.reason}, and the environment wins. "
                   f"Unset {decision.source} to enable it.", err=True)
        return
    click.echo("Telemetry enabled. See what is collected with `blindai-telemetry catalogue` and what was sent "
               "with `blindai-telemetry inspect`.")


def _collectors(explicit: str | None) -> list[str]:
    """The collectors to ask for a deletion, as checked base URLs: --endpoint, else the endpoint variable, else the
    collectors this machine actually sent to (the transparency log). Raises UserError when none is known or one
    is not a URL: before anything is asked or sent."""
    settings = _machine_settings()
    if explicit:
        candidates = [explicit]
    elif settings.endpoint is not None:  # with no application arguments, only the variable sets it
        candidates = [settings.endpoint]
    elif settings.endpoint_source is not None:
        raise UserError(f"{settings.endpoint_source} is set, but not to a collector URL.",
                        "Fix it, or pass --endpoint URL (the collector your applications report to).")
    else:
        candidates = _logged_collectors()
    if not candidates:
        raise UserError("No collector is known for this machine.",
                        f"Pass --endpoint URL (the collector your applications report to) or set "
                        f"{ev.BLINDAI_TELEMETRY_ENDPOINT}.")
    try:
        return [_deletion.normalise_endpoint(url) for url in candidates]
    except _deletion.DeletionError as error:
        raise UserError(error.message, error.hint) from None


def _logged_collectors() -> list[str]:
    """The collectors this machine's HTTP batches went to, most recent first (from the transparency log)."""
    seen: list[str] = []
    for record in reversed(_config.read_sent_log(limit=0)):
        endpoint = record.get("endpoint")
        if record.get("transport") == "http" and isinstance(endpoint, str) and endpoint:
            endpoint = endpoint.rstrip("/").removesuffix("/v1/batch")
            if endpoint not in seen:
                seen.append(endpoint)
    return seen


def _delete(install_ids: list[str], collectors: list[str], timeout: float) -> None:
    """Delete `install_ids` at every collector; forget previous ids once deleted. Raises UserError."""
    for url in collectors:
        click.echo(f"Asking {url} to delete the events of {len(install_ids)} install id(s)…")
        try:
            results = _deletion.delete_installs(
                url, install_ids, timeout,
                on_requested=lambda deletion_id, _ids: click.echo(f"  deletion id: {deletion_id} (pending)"),
            )
        except _deletion.DeletionError as error:
            raise UserError(error.message, error.hint) from None
        for result in results:
            deleted = result.response.get("events_deleted")
            count = f": {deleted} event(s) deleted" if isinstance(deleted, int) else ""
            click.echo(f"  deletion id: {result.id} done{count}")
    directory = _config.config_dir()
    cfg = _config.load_user_config(directory)
    cfg.previous_install_ids = [i for i in cfg.previous_install_ids if i not in install_ids]
    _config.save_user_config(cfg, directory)


def _stdin_is_interactive() -> bool:
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # closed stdin
        return False


@click.command("id")
@click.option("--reset", is_flag=True, help="Make a new install id; the old one is kept for delete-my-data.")
@click.option("--yes", "delete_old", flag_value=True, default=None,
              help="With --reset: also delete the old id's data, without asking.")
@click.option("--no-delete", "delete_old", flag_value=False, help="With --reset: keep the old id's data.")
@click.option("--endpoint", help="Collector URL for the deletion (default: where this machine sent events).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds to wait for the deletion to finish.")
def install_id(reset: bool, delete_old: bool | None, endpoint: str | None, timeout: float) -> None:
    """Show this install's anonymous id; --reset makes a new one."""
    directory = _config.config_dir()
    if not reset:
        if delete_old is not None:
            raise click.UsageError("--yes and --no-delete only apply with --reset.")
        cfg = _config.load_user_config(directory)
        if cfg.install_id is None and not telemetry_decision(user_config=cfg).enabled:
            click.echo("No install id: telemetry is disabled, so none was created.", err=True)
            return
        value, persisted = _config.get_or_create_install_id(directory)
        click.echo(value)
        if not persisted:
            click.echo(f"(could not save it in {directory}: it changes with every process)", err=True)
        return
    new, old = _config.reset_install_id(directory)
    click.echo(f"New install id: {new}")
    if old is None:
        return
    click.echo(f"Old install id: {old} (its events stay on the collector until deleted)")
    interactive = delete_old is None and _stdin_is_interactive()
    collectors: list[str] = []
    if delete_old or interactive:
        try:
            collectors = _collectors(endpoint)  # known before asking: no question that cannot be acted on
        except UserError as error:
            if delete_old:  # --yes: the deletion was asked for and cannot be done
                raise
            click.echo(error.message, err=True)
            interactive = False
    if interactive:
        delete_old = click.confirm(f"Delete the old id's events on the collector now ({', '.join(collectors)})?",
                                   default=False)
    if delete_old:
        previous = _config.load_user_config(directory).previous_install_ids
        _delete(previous, collectors, timeout)
    else:
        click.echo("Not deleted. To delete them later: `blindai-telemetry delete-my-data` "
                   "(it covers the current and every previous id).")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the records, with the exact payloads, as JSON.")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="How many batches.")
def inspect(as_json: bool, limit: int) -> None:
    """Show the last batches this machine actually sent (the local transparency log), and what waits to be sent."""
    records = _config.read_sent_log(limit=limit)
    if as_json:
        _echo_json(records)
        return
    path = _config.config_dir() / _config.SENT_LOG
    if not records:
        click.echo(f"Nothing has been sent from this user account (the log would be {path}).")
    else:
        click.echo(_views.sent_log_table(records))
        click.echo(f"\n{len(records)} batch(es) from {path}. `--json` shows each payload exactly as sent.")
    click.echo("\n" + "\n".join(_waiting.waiting_lines(_config.config_dir())))


@click.command("catalogue")
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as JSON.")
def show_catalogue(as_json: bool) -> None:
    """List every event and field that may be collected, its type, and why."""
    data = catalogue.as_dict()
    if as_json:
        _echo_json(data)
    else:
        click.echo(_views.catalogue_text(data))
        click.echo("\nThis machine's setting: `blindai-telemetry status`; what it sent: `blindai-telemetry inspect`; "
                   "to stop: `blindai-telemetry disable`.")


@click.command("delete-my-data")
@click.option("--endpoint", help="Collector URL (default: BLINDAI_TELEMETRY_ENDPOINT, else where events went).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds to wait for the collector to finish.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def delete_my_data(endpoint: str | None, timeout: float, yes: bool) -> None:
    """Ask the collector to delete every event of this install (and of its previous ids)."""
    cfg = _config.load_user_config()
    install_ids = [i for i in (cfg.install_id, *cfg.previous_install_ids) if i]
    if not install_ids:
        click.echo("This machine has no install id, so no event of it was stored: nothing to delete.")
        return
    collectors = _collectors(endpoint)  # before asking: a "y" must not be answered with "no collector is known"
    if not yes:
        click.confirm(f"Delete every event of {', '.join(install_ids)} at {', '.join(collectors)}?", default=False,
                      abort=True)
    _delete(install_ids, collectors, timeout)
    click.echo("Done. New events will still be sent while telemetry is enabled (`blindai-telemetry disable`).")


COMMANDS: list[click.Command] = [status, enable, disable, install_id, inspect, show_catalogue, delete_my_data]
