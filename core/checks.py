"""Checks of node input values: finite numbers, declared ranges and choices, and the answer of `VALIDATE_INPUTS`.

ComfyUI (0.3.64, execution.py `validate_inputs`) checks a widget's min, max and choices itself, but a NaN passes
them (every comparison with NaN is false), and for every input that a node's `VALIDATE_INPUTS` names it skips them
altogether. So a node names its FLOAT inputs (and any string used as a file or folder name) in `VALIDATE_INPUTS` and
answers with `validate_inputs`, which re-checks the declared ranges and choices and adds finiteness and the name
rules:

    @classmethod
    def VALIDATE_INPUTS(cls, guidance=None, filename_prefix=None):
        return validate_inputs(cls, {"guidance": guidance, "filename_prefix": filename_prefix},
                               names={"filename_prefix": safe_name})

Every parameter defaults to None: ComfyUI passes only the inputs a graph holds, so an API graph that omits an optional
input (or a required one) would otherwise get a raw "missing 1 required positional argument" (tests/test_security.py
checks every node). Do not name `input_types` there: that switches off ComfyUI's type check of linked inputs. A linked input arrives as
None at validation time (its value is known only when the graph runs), so core functions also call `check_finite`
on the numbers they take: validation refuses what it can before any work, the core refuses the rest.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping


def check_finite(value: Any, field: str) -> float:
    """`value` as a finite float, or ValueError naming `field` (NaN and infinity are refused)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"'{field}' is {value!r}: give a number.") from None
    if not math.isfinite(number):
        raise ValueError(f"'{field}' is {value!r}: NaN and infinity are refused; give a finite number.")
    return number


def check_range(value: Any, field: str, minimum: float | None = None, maximum: float | None = None) -> Any:
    """`value` when it lies in [minimum, maximum] (either bound optional), else ValueError naming `field`."""
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "-inf" if minimum is None else minimum
        high = "inf" if maximum is None else maximum
        raise ValueError(f"'{field}' is {value!r}; give a value from {low} to {high}.")
    return value


def _declared(input_types: Mapping, name: str) -> tuple[Any, dict]:
    for section in ("required", "optional"):
        entry = input_types.get(section, {}).get(name)
        if entry is not None:
            return entry[0], (entry[1] if len(entry) > 1 else {})
    raise KeyError(f"'{name}' is not an input of this node.")


def check_widgets(input_types: Mapping, values: Mapping[str, Any]) -> None:
    """Check widget values against a node's `INPUT_TYPES()`: FLOATs finite, INT/FLOAT min/max, choices listed.

    None (a linked input) is skipped. ValueError names the first input that fails.
    """
    for name, value in values.items():
        if value is None:
            continue
        kind, options = _declared(input_types, name)
        if kind == "FLOAT":
            value = check_finite(value, name)
        if kind in ("INT", "FLOAT"):
            check_range(value, name, options.get("min"), options.get("max"))
        elif isinstance(kind, (list, tuple)) and value not in kind:
            shown = ", ".join(map(str, kind[:20])) + (" ..." if len(kind) > 20 else "")
            raise ValueError(f"'{name}' is {value!r}; choose one of: {shown}.")


def validate_inputs(node_class: type, values: Mapping[str, Any],
                    names: Mapping[str, Callable[[Any, str], Any]] | None = None) -> bool | str:
    """The answer of a node's `VALIDATE_INPUTS`: True, or what is wrong in words (ComfyUI then runs nothing).

    `values`: the inputs the hook named; `names`: input -> a checker called as `check(value, input)` (such as
    `paths.safe_name`) for strings that become file or folder names.
    """
    try:
        check_widgets(node_class.INPUT_TYPES(), values)
        for name, check in (names or {}).items():
            if values.get(name) is not None:
                check(values[name], name)
    except (ValueError, FileNotFoundError) as error:
        return str(error)
    return True
