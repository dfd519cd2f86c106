"""The `skills` text of a routing request: `"german:3,field-service"`."""

from __future__ import annotations

import re

_SKILL_LEVEL = re.compile(r"^[0-9]{1,3}$")
MAX_SKILL_NAME = 64
MAX_SKILL_LEVEL = 100


def parse_skills(text: str) -> dict[str, int]:
    """`"german:3,field-service"` -> `{"german": 3, "field-service": 1}`; a repeated skill keeps its maximum.

    Raises `ValueError` for an empty item, a name longer than 64 characters, or a
    level that is not a whole number from 1 to 100.
    """
    skills: dict[str, int] = {}
    if not text.strip():
        return skills
    for item in text.split(","):
        name, colon, level_text = item.partition(":")
        name = name.strip()
        if not name:
            raise ValueError(f"skill '{item.strip()}' has no name")
        if len(name) > MAX_SKILL_NAME:
            raise ValueError(f"skill name '{name[:20]}...' is longer than {MAX_SKILL_NAME} characters")
        level = 1
        if colon:
            level_text = level_text.strip()
            if not _SKILL_LEVEL.match(level_text) or not 1 <= int(level_text) <= MAX_SKILL_LEVEL:
                raise ValueError(
                    f"skill '{name}' needs a level from 1 to {MAX_SKILL_LEVEL}, not '{level_text}'"
                )
            level = int(level_text)
        skills[name] = max(skills.get(name, 0), level)
    return skills
