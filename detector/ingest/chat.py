"""SQL over logged chat conversations, whatever their dialect, giving the canonical fields.

Logs hold messages as OpenAI-style `{"role", "content"}` (content a string or a list of parts
such as `{"type": "text", "text": ...}`) or as OpenTelemetry GenAI `{"role", "parts": [{"type":
"text", "content": ...}]}`. Every adapter reduces them the same way: system (and developer)
turns become `system_prompt`, the other turns become `messages` as `{"role", "content"}` with
the text parts joined by newlines, and `prompt` is the text of the last user turn.
"""

from __future__ import annotations

SYSTEM_ROLES = "('system', 'developer')"
TEXT_PART_TYPES = "('text', 'input_text', 'output_text')"


def message_text(message: str) -> str:
    """SQL: the text of one message (a JSON object); NULL when it has no text part."""
    content_parts = (
        f"list_transform(json_extract({message}, '$.content[*]'), lambda p: "
        f"CASE WHEN json_type(p) = 'VARCHAR' THEN p ->> '$' "
        f"WHEN (p ->> '$.type') IN {TEXT_PART_TYPES} THEN coalesce(p ->> '$.text', p ->> '$.content') END)"
    )
    semconv_parts = (
        f"list_transform(json_extract({message}, '$.parts[*]'), lambda p: "
        f"CASE WHEN (p ->> '$.type') IN {TEXT_PART_TYPES} THEN coalesce(p ->> '$.content', p ->> '$.text') END)"
    )
    return (
        f"CASE WHEN json_type({message}, '$.content') = 'VARCHAR' THEN {message} ->> '$.content' "
        f"WHEN json_type({message}, '$.content') = 'ARRAY' THEN nullif(array_to_string({content_parts}, chr(10)), '') "
        f"WHEN json_type({message}, '$.parts') = 'ARRAY' THEN nullif(array_to_string({semconv_parts}, chr(10)), '') END"
    )


def _items(conversation: str) -> str:
    return f"json_extract({conversation}, '$[*]')"


def _is_system(message: str) -> str:
    return f"coalesce(({message} ->> '$.role') IN {SYSTEM_ROLES}, false)"


def conversation_messages(conversation: str) -> str:
    """SQL: the canonical `messages` (JSON) of a conversation array: its non-system turns as
    `{"role", "content"}`. A value that is not an array is passed through for validation to reject."""
    return (
        f"CASE WHEN json_type({conversation}) = 'ARRAY' THEN to_json(list_transform("
        f"list_filter({_items(conversation)}, lambda m: NOT {_is_system('m')}), "
        f"lambda m: {{'role': m ->> '$.role', 'content': {message_text('m')}}})) "
        f"ELSE {conversation} END"
    )


def conversation_system(conversation: str) -> str:
    """SQL: the system prompt (VARCHAR) of a conversation array: its system turns' text, joined."""
    return (
        f"CASE WHEN json_type({conversation}) = 'ARRAY' THEN nullif(array_to_string(list_transform("
        f"list_filter({_items(conversation)}, lambda m: {_is_system('m')}), "
        f"lambda m: {message_text('m')}), chr(10)), '') END"
    )


def conversation_prompt(conversation: str) -> str:
    """SQL: the text (VARCHAR) of the last user turn of a conversation array."""
    return (
        f"CASE WHEN json_type({conversation}) = 'ARRAY' THEN list_transform("
        f"list_filter({_items(conversation)}, lambda m: (m ->> '$.role') = 'user'), "
        f"lambda m: {message_text('m')})[-1] END"
    )


def instructions_text(instructions: str) -> str:
    """SQL: the text (VARCHAR) of system instructions given as a string or as a list of parts."""
    parts = (
        f"list_transform(json_extract({instructions}, '$[*]'), lambda p: "
        f"CASE WHEN json_type(p) = 'VARCHAR' THEN p ->> '$' "
        f"WHEN (p ->> '$.type') IN {TEXT_PART_TYPES} OR (p ->> '$.type') IS NULL "
        f"THEN coalesce(p ->> '$.content', p ->> '$.text') END)"
    )
    return (
        f"CASE WHEN json_type({instructions}) = 'VARCHAR' THEN {instructions} ->> '$' "
        f"WHEN json_type({instructions}) = 'ARRAY' THEN nullif(array_to_string({parts}, chr(10)), '') END"
    )
