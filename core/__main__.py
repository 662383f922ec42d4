"""``python -m mxlite plugins [--json]``: what is loaded, from where, and what was skipped.

``python -m mxlite docs``: the operator reference page, generated from the registry.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import asdict

from . import config
from .registry import get_registry


def _report() -> dict:
    registry = get_registry()
    return {
        "plugins": [asdict(info) for info in registry.plugins.values()],
        "backend_order": config.backend_order(),
        "operators": len(registry.ops),
    }


def _print_text(report: dict) -> None:
    for plugin in report["plugins"]:
        origin = plugin["distribution"] and f"{plugin['distribution']} {plugin['version']}"
        status = f"SKIPPED: {plugin['skipped']}" if plugin["skipped"] else "loaded"
        print(f"{plugin['name']} ({origin or 'registered in code'}): {status}")
        if plugin["entry_point"]:
            print(f"  entry point: {plugin['entry_point']}")
        if plugin["ops"]:
            print(f"  operators ({len(plugin['ops'])}): {', '.join(plugin['ops'])}")
        if plugin["kernels"]:
            kernels = ", ".join(f"{op}[{backend}]" for op, backend in plugin["kernels"])
            print(f"  kernels ({len(plugin['kernels'])}): {kernels}")
    print(f"backend order: {', '.join(report['backend_order'])}")
    print(f"{report['operators']} operators registered")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mxlite", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    plugins = sub.add_parser("plugins", help="list plugins, their operators and kernels")
    plugins.add_argument("--json", action="store_true", help="machine-readable output")
    sub.add_parser("docs", help="print the operator reference (docs/operators.md)")
    args = parser.parse_args(argv)
    if args.command == "docs":
        from .registry.docs import render_operators
        print(render_operators(get_registry()))
        return 0
    report = _report()
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        _print_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
