"""Mutation scores of signing.py and verify.py from the last `mutmut run` (mutmut 3.x).

Run after `mutmut run --max-children 2`: python benchmarks/mutation_score.py [--survivors]

Three scores per module, each the share of mutants the focused tests detect (killed or timed
out): raw; with the survivors that change only message text left out; and with those and the
survivors listed as equivalent in benchmarks/mutation-equivalents.md left out.

A survivor "changes only message text" when every difference between its function and the
original lies in text that reaches nothing but a message, a reason or a repr: the message of an
exception, a refusal's reason, a log call, a function that only formats text (``_show``,
``_at``, ``_shown``, ``_key_description``, ``__repr__``), a variable or argument that only feeds
them (``reason``, ``what``, ``others``, ``hint``, ``kind``, the ``name`` of the option in
question, the verifier's field ``prefix``). ``--survivors`` prints every other survivor.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import re
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULES = ("signing", "verify")
EQUIVALENTS = Path(__file__).with_name("mutation-equivalents.md")
# mutmut's exit codes per mutant: 1 killed, 0 survived, 33 no test covers it, timeouts negative.
STATUS = {1: "killed", 0: "survived", 33: "not covered", -24: "timed out", 36: "timed out"}

# Call -> index of the first argument that is message text.
MESSAGE_ARGUMENTS = {
    "ConfigurationError": 0,
    "ValueError": 0,
    "TypeError": 0,
    "__init__": 0,  # _Refusal's super().__init__(reason)
    "_Refusal": 1,
    "_malformed": 0,
    "_epoch_field": 1,  # the condition's name, for the message
    "_check_terms": 1,  # what: "custom policy ..." for the reason
    "_evaluate": 2,  # prefix: "CloudFront-" or "" in front of field names in reasons
}
MESSAGE_KEYWORDS = {"name", "kind", "private", "reason"}
MESSAGE_VARIABLES = {"reason", "what", "others", "hint", "kind"}
LOG_CALLS = {"exception", "warning", "debug", "error", "info"}
TEXT_FUNCTIONS = {"_show", "_at", "_shown", "_key_description", "__repr__"}


@dataclass
class Score:
    module: str
    counts: dict[str, int] = field(default_factory=dict)
    message: int = 0
    equivalent: int = 0
    others: list[str] = field(default_factory=list)

    def line(self) -> str:
        total = sum(self.counts.values())
        detected = self.counts.get("killed", 0) + self.counts.get("timed out", 0)
        without_text = total - self.message
        shares = (
            f"raw {detected / total:.1%}, message text left out {detected / without_text:.1%}, "
            f"equivalents also left out {detected / (without_text - self.equivalent):.1%}"
        )
        states = ", ".join(f"{n} {state}" for state, n in sorted(self.counts.items()))
        return (
            f"{self.module}.py: {total} mutants ({states}); {self.message} survivors change only "
            f"message text, {self.equivalent} are listed as equivalent; {shares}"
        )


def _differences(
    original: object, mutant: object, owner: ast.AST | None, found: list[ast.AST]
) -> None:
    """Append the smallest nodes of ``original`` that differ from ``mutant``."""
    if isinstance(original, list) and isinstance(mutant, list):
        if len(original) == len(mutant):
            for a, b in zip(original, mutant, strict=True):
                _differences(a, b, owner, found)
            return
        # An argument removed: that argument differs; anything else, the node holding the list.
        kept = [ast.dump(node) for node in mutant]
        removed = [node for node in original if ast.dump(node) not in kept]
        if len(removed) == len(original) - len(mutant):
            found.extend(removed)
        else:
            found.append(owner or ast.Module())
    elif isinstance(original, ast.AST) and type(original) is type(mutant):
        for name in original._fields:
            if not (isinstance(original, ast.FunctionDef) and name == "name"):
                _differences(getattr(original, name), getattr(mutant, name), original, found)
    elif original != mutant or type(original) is not type(mutant):
        # A changed value, an added or removed argument: the node that holds it differs.
        found.append(original if isinstance(original, ast.AST) else owner or ast.Module())


def _function_name(node: ast.FunctionDef) -> str:
    """``x__show__mutmut_orig`` -> ``_show``; ``xǁLocalKeyǁ__repr____mutmut_3`` -> ``__repr__``."""
    return node.name.rsplit("__mutmut_", 1)[0].split("ǁ")[-1].removeprefix("x_")


def _is_message_text(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    if isinstance(node, ast.keyword) and node.arg in MESSAGE_KEYWORDS:
        return True
    while node in parents:
        parent = parents[node]
        if isinstance(parent, ast.Call):
            called = parent.func
            name = getattr(called, "id", None) or getattr(called, "attr", None)
            if name in MESSAGE_ARGUMENTS and node in parent.args[MESSAGE_ARGUMENTS[name] :]:
                return True
            if name in LOG_CALLS and isinstance(called, ast.Attribute):
                return True
            if name == "Decision" and parent.args[2:3] == [node]:
                return True
        if isinstance(parent, ast.keyword) and parent.arg in MESSAGE_KEYWORDS:
            return True
        if isinstance(parent, ast.arguments):  # a parameter's default value
            named = list(zip(parent.kwonlyargs, parent.kw_defaults, strict=True))
            positional = [*parent.posonlyargs, *parent.args]
            named += list(
                zip(
                    positional[len(positional) - len(parent.defaults) :],
                    parent.defaults,
                    strict=True,
                )
            )
            return any(value is node and arg.arg in MESSAGE_KEYWORDS for arg, value in named)
        if isinstance(parent, ast.Assign) and any(
            getattr(target, "id", None) in MESSAGE_VARIABLES for target in parent.targets
        ):
            return True
        if isinstance(parent, ast.FunctionDef):
            return _function_name(parent) in TEXT_FUNCTIONS
        node = parent
    return False


def _listed_equivalents() -> set[str]:
    text = EQUIVALENTS.read_text() if EQUIVALENTS.exists() else ""
    return set(re.findall(r"^- `([\w.ǁ]+)`", text, re.MULTILINE))


def score(module: str, mutants: Path, equivalents: set[str]) -> Score:
    base = mutants / "cfcookie_middleware" / f"{module}.py"
    lines = base.read_text().splitlines(keepends=True)
    spans = json.loads(base.with_name(base.name + ".spans").read_text())["spans"]
    codes = json.loads(base.with_name(base.name + ".meta").read_text())["exit_code_by_key"]
    result = Score(module)
    for key, code in sorted(codes.items()):
        state = STATUS.get(code, f"exit code {code}")
        result.counts[state] = result.counts.get(state, 0) + 1
        if state not in ("survived", "not covered"):
            continue
        name = key.rsplit(".", 1)[-1]
        source = {}
        for which, span_name in (
            ("original", name.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"),
            ("mutant", name),
        ):
            start, end = spans[span_name]
            source[which] = textwrap.dedent("".join(lines[start - 1 : end]))
        original, mutant = ast.parse(source["original"]), ast.parse(source["mutant"])
        parents = {
            child: node for node in ast.walk(original) for child in ast.iter_child_nodes(node)
        }
        found: list[ast.AST] = []
        _differences(original, mutant, None, found)
        if found and all(_is_message_text(node, parents) for node in found):
            result.message += 1
        elif key in equivalents:
            result.equivalent += 1
            equivalents.discard(key)
        else:
            diff = difflib.unified_diff(
                source["original"].splitlines(), source["mutant"].splitlines(), lineterm="", n=0
            )
            changed = [
                d
                for d in diff
                if d[:1] in "+-" and d[:3] not in ("+++", "---") and "def x" not in d
            ]
            result.others.append(f"{key} [{state}]\n    " + "\n    ".join(changed))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mutants", type=Path, default=ROOT / "mutants", help="mutmut's output")
    parser.add_argument("--survivors", action="store_true", help="print the other survivors")
    args = parser.parse_args()
    equivalents = _listed_equivalents()
    for module in MODULES:
        result = score(module, args.mutants, equivalents)
        print(result.line())
        if args.survivors:
            print("\n".join(result.others))
    for stale in sorted(equivalents):
        print(f"warning: {stale} is listed as equivalent but did not survive", file=sys.stderr)


if __name__ == "__main__":
    main()
