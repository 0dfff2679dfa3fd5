#!/usr/bin/env python3
"""Validates files against a JSON Schema with the `jsonschema` package (PyPI), independently of
possim's Rust code: `validate_json_schema.py SCHEMA.json FILE...`. A `.toml` file is read with
Python's tomllib (TOML dates become RFC 3339 strings, as possim reads them), a `.json` file as
JSON, any other file as JSON lines (one instance per non-empty line).

Prints one line per invalid instance with the path of the problem and exits 1 when any is
invalid; exits 2 when the schema itself is not a valid draft 2020-12 schema.
"""

import datetime
import json
import sys
import tomllib

import jsonschema


def plain(value):
    """TOML dates and times as the strings possim's loader sees."""
    if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def instances(path):
    if path.endswith(".toml"):
        with open(path, "rb") as f:
            yield path, plain(tomllib.load(f))
    elif path.endswith(".json"):
        with open(path, encoding="utf-8") as f:
            yield path, json.load(f)
    else:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, 1):
                if line.strip():
                    yield f"{path}:{number}", json.loads(line)


def main():
    with open(sys.argv[1], encoding="utf-8") as f:
        schema = json.load(f)
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as e:
        print(f"the schema is invalid: {e.message}")
        return 2
    validator = jsonschema.Draft202012Validator(schema)
    bad = 0
    checked = 0
    for path in sys.argv[2:]:
        for name, instance in instances(path):
            checked += 1
            errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
            for error in errors[:3]:
                where = "/".join(str(p) for p in error.absolute_path) or "(top)"
                print(f"{name}: {where}: {error.message[:300]}")
            bad += bool(errors)
    print(f"checked {checked}, invalid {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
