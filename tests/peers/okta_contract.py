"""Okta's published API description, as its Python SDK (okta, pinned in
requirements.txt) carries it, for the Okta contract test.

  python3 okta_contract.py operations   -> JSON [[method, path template], ...]
  python3 okta_contract.py validate     <- JSON [[model name, object], ...] on stdin
                                        -> JSON [error, ...] (empty: all valid)
"""
import importlib
import json
import pathlib
import re
import sys

import okta


def operations():
    found = []
    for path in (pathlib.Path(okta.__file__).parent / "api").glob("*.py"):
        text = path.read_text()
        for method, resource in re.findall(
            r'method="([A-Z]+)",\s*resource_path="([^"]+)"', text
        ):
            found.append([method, resource])
    return found


def validate(pairs):
    errors = []
    for name, value in pairs:
        module = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower().replace("o_auth2", "o_auth2")
        model = getattr(importlib.import_module(f"okta.models.{module}"), name)
        try:
            model.model_validate(value)
        except Exception as error:  # pydantic's ValidationError, named per version
            errors.append(f"{name}: {error}")
        known = set(model.model_fields) | {
            f.alias for f in model.model_fields.values() if f.alias
        }
        extra = sorted(set(value) - known)
        if extra:
            errors.append(f"{name}: undocumented properties {extra}")
    return errors


if __name__ == "__main__":
    if sys.argv[1] == "operations":
        print(json.dumps(operations()))
    else:
        print(json.dumps(validate(json.load(sys.stdin))))
