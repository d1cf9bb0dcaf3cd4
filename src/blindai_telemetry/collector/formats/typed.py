"""What the formats' typed shortcuts share: catalogue fields as msgspec types, and the column-wise screening.

A shortcut (`Format.checked`) decodes a body straight into structs whose types and `Meta` bounds are the checks
`collector.validate.check_rows` runs on each value (type, range, length, choices), then screens what a type
cannot say — ids and texts that look personal or hold a control character — column-wise, each distinct value
once, with `validate`'s own functions. Whatever would be refused, dropped or counted is left to the general path.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

import msgspec

from blindai_telemetry import catalogue
from blindai_telemetry.collector.validate import field_maximum, personal_id, personal_text, screened
from blindai_telemetry.stores.base import COLUMN_NAMES

#: A field without a column of its own (stored in `properties`) is not in the structs: the general path takes it.
COLUMNS = frozenset(COLUMN_NAMES)
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=catalogue.MAX_STRING_LENGTH)]
#: Free-text fields, screened as `check_rows` screens them (`validate.screened`); the answer depends
#: on the text alone, so a batch's distinct texts of all these fields are screened once.
_texts_of = operator.itemgetter(*(f.name for f in catalogue.FIELDS.values() if screened(f)
                                  and f.name not in ("event_id", "install_id", "event")))
#: One or more UUIDs, one a line: a column of ids checked in one call (`_all_uuids`).
_UUIDS = re.compile(r"(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\n)*"
                    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def field_type(f: catalogue.Field) -> Any:
    """The catalogue field's type as a struct holds it (None allowed: `check_rows` skips a null as absent)."""
    if f.type is str:
        kind: Any = Literal[f.choices] if f.choices else Text  # a value outside the choices: general path
    elif f.type is bool:
        kind = bool
    else:  # msgspec takes an int for a float field as a float, as `check_rows` does
        kind = Annotated[f.type, msgspec.Meta(ge=0, le=field_maximum(f.name))]
    return kind | None


def clean_ids(name: str, ids: list[str]) -> bool:
    """No id of the envelope field `name` looks personal or holds a control character (`validate.personal_id`)."""
    return _all_uuids(ids) or not any(personal_id(name, value) for value in set(ids))


def clean_texts(rows: Iterable[dict[str, Any]]) -> bool:
    """No free text of `rows` looks personal or holds a control character (`validate.personal_text`)."""
    found: set[str | None] = set()
    for row in rows:
        found.update(_texts_of(row))
    found.discard(None)
    texts: set[str] = found  # type: ignore[assignment]  # None is out
    uuids = [text for text in texts if len(text) == 36]
    if _all_uuids(uuids):  # clients' install ids, new in most events: one call for all of them
        texts.difference_update(uuids)
    return not any(personal_text(text) for text in texts)


def _all_uuids(values: list[str]) -> bool:
    """True when every one of `values` is a UUID (the length rules out a line break inside one)."""
    return not values or (len(joined := "\n".join(values)) == 37 * len(values) - 1 and _UUIDS.fullmatch(joined)
                          is not None)
