#!/usr/bin/env python3
"""Validate SARIF 2.1.0 documents: usage: validate-sarif.py FILE... (- for stdin). Exit 0 when all
are valid, 1 otherwise, naming each problem.

No package ships the official sarif-schema-2.1.0.json, so the document is checked in two passes:
1. sarif-pydantic (PyPI) parses it into its SARIF 2.1.0 object model: required properties,
   types and the `level` enumeration.
2. That model accepts unknown properties (extra="allow") where the SARIF schema does not
   (additionalProperties: false outside property bags), so every object the model parsed is
   walked and any property it does not define is an error; so are a `version` other than
   2.1.0, a result without message text, and a ruleId/ruleIndex that names no driver rule.
"""
import json
import sys

from pydantic import BaseModel, ValidationError
from sarif_pydantic import Sarif

# Properties the SARIF 2.1.0 schema defines that sarif-pydantic 0.6.2 models under another name.
SPEC_NAMES_MISSING_FROM_MODEL = {"Result": {"suppressions"}}


def extra_properties(model, path, problems):
    extras = model.model_extra or {}
    allowed = SPEC_NAMES_MISSING_FROM_MODEL.get(type(model).__name__, set())
    for key in extras:
        if key not in allowed:
            problems.append(f"{path}: property '{key}' is not defined by SARIF 2.1.0 for {type(model).__name__}")
    for name in type(model).model_fields:
        if name == "properties":
            continue  # property bags take anything
        walk(getattr(model, name), f"{path}.{name}", problems)


def walk(value, path, problems):
    if isinstance(value, BaseModel):
        extra_properties(value, path, problems)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            walk(item, f"{path}[{index}]", problems)
    elif isinstance(value, dict):
        for key, item in value.items():
            walk(item, f"{path}.{key}", problems)


def validate(text):
    problems = []
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        return [f"not JSON: {error}"]
    if not isinstance(document, dict):
        return ["the document is not a JSON object"]
    if document.get("version") != "2.1.0":
        problems.append(f"version is {document.get('version')!r}, not '2.1.0'")
    try:
        log = Sarif.model_validate(document)
    except ValidationError as error:
        return problems + [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors()]
    walk(log, "$", problems)
    for run_index, run in enumerate(log.runs):
        rules = run.tool.driver.rules or []
        ids = [rule.id for rule in rules]
        for index, result in enumerate(run.results or []):
            where = f"$.runs[{run_index}].results[{index}]"
            if not result.message.text and not result.message.id:
                problems.append(f"{where}.message: needs text (or id)")
            if result.rule_id is not None and ids and result.rule_id not in ids:
                problems.append(f"{where}.ruleId: '{result.rule_id}' is not in tool.driver.rules")
            if result.rule_index is not None:
                if not 0 <= result.rule_index < len(rules):
                    problems.append(f"{where}.ruleIndex: {result.rule_index} is outside tool.driver.rules")
                elif result.rule_id is not None and rules[result.rule_index].id != result.rule_id:
                    problems.append(f"{where}.ruleIndex: names '{rules[result.rule_index].id}', ruleId says '{result.rule_id}'")
            for suppression in (result.model_extra or {}).get("suppressions", []) or []:
                if suppression.get("kind") not in ("inSource", "external"):
                    problems.append(f"{where}.suppressions: kind must be inSource or external")
    return problems


def main(paths):
    failed = False
    for path in paths:
        text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()
        problems = validate(text)
        for problem in problems:
            print(f"{path}: {problem}")
        if problems:
            failed = True
        else:
            print(f"{path}: valid SARIF 2.1.0")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["-"]))
