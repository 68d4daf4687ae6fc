"""Reading a submitted form: each field a string of bounded length, whatever was sent."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from pe_portal.errors import InvalidInput

# Longer than any field of the console needs (a passkey assertion is the largest, a few KB),
# far below the body limit; an over-long field is refused by name, not truncated.
MAX_FIELD = 256
MAX_CREDENTIAL = 16_384


@dataclass
class Form:
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    def get(self, name: str) -> str:
        return self.values.get(name, "")

    def optional(self, name: str) -> str | None:
        value = self.values.get(name, "").strip()
        return value or None


async def read(request: Request, *, long_fields: frozenset[str] = frozenset()) -> Form:
    """The form's text fields (files and repeated names ignored); InvalidInput naming the field
    when one is longer than it may be."""
    submitted = await request.form()
    values: dict[str, str] = {}
    for name, value in submitted.items():
        if not isinstance(value, str):
            continue
        limit = MAX_CREDENTIAL if name in long_fields else MAX_FIELD
        if len(value) > limit:
            raise InvalidInput(
                f"This field is longer than {limit} characters.",
                code="field_too_long",
                details=[{"field": name}],
            )
        values[name] = value
    return Form(values)


def fields_named(error: Exception) -> list[str]:
    """The fields a refusal's `details` name (`[{"field": ...}, ...]`), if any."""
    details = getattr(error, "details", None)
    if not isinstance(details, list):
        return []
    named = [item.get("field") for item in details if isinstance(item, dict)]
    return [name for name in named if isinstance(name, str) and name]
