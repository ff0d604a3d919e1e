"""Modules over ~500 lines and functions over 60 lines (the layout guide; migrations excepted).

    .venv/bin/python scripts/check_sizes.py [--max-module 500] [--max-function 60] [paths…]

Prints one line per offender and exits 1 when there is any (0 otherwise).
"""

from __future__ import annotations

import argparse
import ast
import sys
from pathlib import Path


def offenders(paths: list[Path], max_module: int, max_function: int) -> list[str]:
    out: list[str] = []
    for path in paths:
        files = sorted(path.rglob("*.py")) if path.is_dir() else [path]
        for f in files:
            if "migrations" in f.parts:
                continue
            text = f.read_text(encoding="utf-8")
            lines = text.count("\n") + 1
            if lines > max_module:
                out.append(f"{f}: module of {lines} lines (> {max_module})")
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    n = (node.end_lineno or node.lineno) - node.lineno + 1
                    if n > max_function:
                        out.append(f"{f}:{node.lineno}: {node.name} has {n} lines (> {max_function})")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", type=Path, default=[Path("src/facegate")])
    ap.add_argument("--max-module", type=int, default=500)
    ap.add_argument("--max-function", type=int, default=60)
    args = ap.parse_args()
    found = offenders(args.paths, args.max_module, args.max_function)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
