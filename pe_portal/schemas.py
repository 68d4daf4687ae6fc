"""The base of every API shape: camelCase on the wire (DESIGN, "Column names"), snake_case in
Python, unknown fields refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


class CamelModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, from_attributes=True, extra="forbid"
    )


# A JSON Schema keyword whose value is a setting: `{SETTING_KEYWORD: {"minLength":
# "password_min_length"}}` is served as `"minLength": 12` (the running PASSWORD_MIN_LENGTH).
SETTING_KEYWORD = "x-pe-portal-settings"
