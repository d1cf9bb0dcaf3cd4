"""Generates the parts of docs/privacy.md that come from the code (catalogue, opt-out rule, retention), so the
page can never drift from what the SDK and the collector do.

The page is hand-written prose with generated blocks between markers:

    <!-- generated: NAME -->
    ...replaced on every run...
    <!-- end generated: NAME -->

`python -m blindai_telemetry.cli._privacy_doc` rewrites the blocks in place; `--check` exits 1 when the committed
file is stale (CI and tests/cli/test_privacy_doc.py run it).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from blindai_telemetry import catalogue
from blindai_telemetry import environment_variables as ev
from blindai_telemetry.catalogue import Field
from blindai_telemetry.collector.settings import CollectorSettings  # a plain dataclass: no collector dependency

#: The committed page, next to the package in a source checkout.
DEFAULT_PATH = Path(__file__).resolve().parents[3] / "docs" / "privacy.md"

_BLOCK = re.compile(r"(<!-- generated: (?P<name>[a-z-]+) -->\n)(?P<body>.*?)(<!-- end generated: (?P=name) -->)", re.S)


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _fields_table(fields: Sequence[Field]) -> str:
    rows = ["| field | type | why it is collected |", "|---|---|---|"]
    for f in fields:
        choices = f" One of: {', '.join(f'`{c}`' for c in f.choices)}." if f.choices else ""
        rows.append(f"| `{f.name}` | {f.json_type()} | {_cell(f.why)}.{choices} |")
    return "\n".join(rows)


def catalogue_block() -> str:
    """Every field and event of the catalogue, as Markdown tables."""
    events = ["| event | why | properties |", "|---|---|---|"]
    for spec in catalogue.EVENTS.values():
        own = [p for p in spec.properties if not catalogue.FIELDS[p].client]
        has_client = any(catalogue.FIELDS[p].client for p in spec.properties)
        props = ", ".join(f"`{p}`" for p in own) + (" + the `client_*` fields" if has_client else "")
        events.append(f"| `{spec.name}` | {_cell(spec.why)} | {props or '—'} |")
    return "\n\n".join([
        f"Catalogue version {catalogue.CATALOGUE_VERSION}. Every event carries:",
        _fields_table(catalogue.ENVELOPE_FIELDS),
        "Context attached to every event:",
        _fields_table(catalogue.CONTEXT_FIELDS),
        "Events:",
        "\n".join(events),
        "Event properties:",
        _fields_table(catalogue.PROPERTY_FIELDS),
        "On a server event caused by a client request, the client's anonymous facts (never its host or user "
        "name):",
        _fields_table(catalogue.CLIENT_FIELDS),
        f"Strings are at most {catalogue.MAX_STRING_LENGTH} characters. Anything else a program passes is dropped "
        "before it leaves the process, and only the number of dropped items is reported.",
    ])


def never_collected_block() -> str:
    return "\n".join(f"- {item[0].upper()}{item[1:]}." for item in catalogue.NEVER_COLLECTED)


def opt_out_block() -> str:
    # The words come from the rule itself, so the page cannot disagree with `is_opt_out_value`.
    false_words = sorted(ev._FALSE_WORDS, key=lambda w: (len(w), w))
    words = ", ".join(f"`{w}`" for w in false_words)
    return "\n".join([
        f"- `{ev.BLINDAI_DISABLE_TELEMETRY}`: any value except {words} (in any case) disables telemetry. "
        "An empty value disables too: when in doubt, nothing is sent.",
        f"- `{ev.DO_NOT_TRACK}`: the same rule ([Console Do Not Track](https://consoledonottrack.com/)).",
    ])


def ci_block() -> str:
    return ", ".join(f"`{name}`" for name in ev.CI_VARIABLES)


def retention_block() -> str:
    days = CollectorSettings().retention_days
    return (f"A collector deletes events older than **{days} days** automatically (at start and every hour). "
            f"Its operator can choose another period with `blindai-telemetry serve --retention-days N`; the "
            "dashboard states the period in use.")


BLOCKS: dict[str, Callable[[], str]] = {
    "catalogue": catalogue_block,
    "never-collected": never_collected_block,
    "opt-out": opt_out_block,
    "ci-variables": ci_block,
    "retention": retention_block,
}


def render(text: str) -> str:
    """`text` with every generated block replaced; raises ValueError when a block is missing or unknown."""
    seen: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in BLOCKS:
            raise ValueError(f"unknown generated block {name!r}")
        seen.add(name)
        return f"{match[1]}{BLOCKS[name]()}\n{match[4]}"

    rendered = _BLOCK.sub(replace, text)
    missing = set(BLOCKS) - seen
    if missing:
        raise ValueError(f"docs/privacy.md lacks the generated block(s): {', '.join(sorted(missing))}")
    return rendered


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="exit 1 when the file is not up to date")
    parser.add_argument("--path", type=Path, default=DEFAULT_PATH)
    args = parser.parse_args(argv)
    current = args.path.read_text(encoding="utf-8")
    rendered = render(current)
    if args.check:
        if rendered != current:
            print(f"{args.path} is stale: run python -m blindai_telemetry.cli._privacy_doc", file=sys.stderr)
            return 1
        return 0
    if rendered != current:
        args.path.write_text(rendered, encoding="utf-8")
        print(f"updated {args.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
