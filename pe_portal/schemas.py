"""The base of every API shape: camelCase on the wire (DESIGN, "Column names"), snake_case in
Python, unknown fields refused."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, from_attributes=True, extra="forbid"
    )


# A JSON Schema keyword whose value is a setting: `{SETTING_KEYWORD: {"minLength":
# "password_min_length"}}` is served as `"minLength": 12` (the running PASSWORD_MIN_LENGTH).
SETTING_KEYWORD = "x-pe-portal-settings"


def exactly_one_of(*choices: tuple[str, ...]) -> Callable[[dict[str, Any]], None]:
    """A `json_schema_extra` for a body that takes exactly one of several groups of fields
    (wire names), none of them null: the schema states it as `oneOf`, the fields non-nullable,
    as the model's own validator enforces it."""
    names = {name for choice in choices for name in choice}

    def extend(schema: dict[str, Any]) -> None:
        for name in names:
            field = schema["properties"][name]
            branches = [branch for branch in field.pop("anyOf", []) if branch != {"type": "null"}]
            field.update(branches[0] if branches else {})
            field.pop("default", None)
        schema["oneOf"] = [
            {
                "required": list(choice),
                "not": {"anyOf": [{"required": [other]} for other in sorted(names - set(choice))]},
            }
            for choice in choices
        ]

    return extend
