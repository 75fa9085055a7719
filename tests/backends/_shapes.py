"""Structure comparison for contract tests: JSON shapes (Loki has no schema) and a Swagger 2.0 checker.

`shape(value)` reduces JSON to its structure: dict keys kept (except label maps, which become `{"<map>": type}`),
list elements merged into the set of their shapes, scalars to a type name (int and float are both "number").
`conforms(value, schema, definitions)` lists where a value breaks a Swagger 2.0 schema (`$ref`, `allOf`,
`properties`, `additionalProperties`, `items`, `type`, `format: date-time`); unknown keys are errors.
`field_schema(definitions, name, path)` resolves a field path (`"[]"` steps into an array) to its schema.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

__all__ = ["shape", "missing_paths", "conforms", "field_schema"]

LABEL_MAPS = frozenset({"stream", "metric", "labels", "annotations"})
_TYPES = {"string": str, "integer": int, "boolean": bool, "number": (int, float), "object": dict, "array": list}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return {str: "string", type(None): "null"}[type(value)]


def shape(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        if key in LABEL_MAPS:
            return {"<map>": "|".join(sorted({_scalar(v) for v in value.values()})) or "string"}
        return {k: shape(v, k) for k, v in value.items()}
    if isinstance(value, list):
        shapes = {json.dumps(shape(v, key), sort_keys=True) for v in value}
        return sorted(shapes)
    return _scalar(value)


def missing_paths(sub: Any, sup: Any, path: str = "$") -> list[str]:
    """Paths of shape `sub` that shape `sup` lacks or types differently (empty lists match anything)."""
    if isinstance(sub, dict) and isinstance(sup, dict):
        return [p for k, v in sub.items()
                for p in ([f"{path}.{k}"] if k not in sup else missing_paths(v, sup[k], f"{path}.{k}"))]
    if isinstance(sub, list) and isinstance(sup, list):
        if not sub or not sup:
            return []
        errors: list[str] = []
        for s in sub:  # each element shape of `sub` must fit some element shape of `sup`
            errors += min((missing_paths(json.loads(s), json.loads(t), f"{path}[]") for t in sup), key=len)
        return errors
    return [] if sub == sup else [f"{path}: {sub!r} vs {sup!r}"]


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    if "allOf" in schema:
        merged: dict[str, Any] = {"type": "object", "properties": dict(schema.get("properties", {}))}
        for part in schema["allOf"]:
            merged["properties"].update(_resolve(part, defs).get("properties", {}))
        return merged
    return schema


def conforms(value: Any, schema: dict[str, Any], defs: dict[str, Any], path: str = "$",
             ignore: frozenset[str] = frozenset()) -> list[str]:
    """Where `value` breaks `schema` (keys listed in `ignore`, as `$.a.b` paths, are skipped)."""
    schema = _resolve(schema, defs)
    kind = schema.get("type") or ("object" if "properties" in schema else None)
    if kind and not isinstance(value, _TYPES[kind]) or (kind in ("integer", "number") and isinstance(value, bool)):
        return [f"{path}: expected {kind}, got {type(value).__name__}"]
    errors: list[str] = []
    if kind == "string" and schema.get("format") == "date-time":
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            errors.append(f"{path}: {value!r} is not a date-time")
    if kind == "object" and isinstance(value, dict):
        props, extra = schema.get("properties", {}), schema.get("additionalProperties")
        for k, v in value.items():
            sub = f"{path}.{k}"
            if sub in ignore:
                continue
            if k in props:
                errors += conforms(v, props[k], defs, sub, ignore)
            elif isinstance(extra, dict):
                errors += conforms(v, extra, defs, sub, ignore)
            elif extra is not True and props:
                errors.append(f"{sub}: not in the schema")
    if kind == "array":
        for i, v in enumerate(value):
            errors += conforms(v, schema.get("items", {}), defs, f"{path}[{i}]", ignore)
    return errors


def field_schema(defs: dict[str, Any], name: str, path: list[str]) -> dict[str, Any]:
    """The resolved schema of `path` inside definition `name`; KeyError naming the step when absent."""
    schema = _resolve(defs[name], defs)
    for step in path:
        schema = _resolve(schema["items"] if step == "[]" else schema["properties"][step], defs)
    return schema
