"""``python -m mxlite plugins [--json]``: what is loaded, from where, and what was skipped;
the backend order, the configuration files considered, and every configuration value with
where it came from.

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


def _note(name: str) -> str | None:
    """A loaded plugin's own word on its state: its module's ``UNAVAILABLE_REASON``, if any
    (the C kernel pack sets it when it was built without a compiler), else what its
    ``status()`` function returns, if it has one."""
    from .registry.loader import plugin_manager
    plugin = plugin_manager().get_plugin(name)
    reason = getattr(plugin, "UNAVAILABLE_REASON", None)
    status = getattr(plugin, "status", None)
    return reason or (status() if callable(status) else None)


def _report() -> dict:
    registry = get_registry()
    return {
        "plugins": [{**asdict(info), "note": _note(info.name)} for info in registry.plugins.values()],
        "backend_order": config.backend_order(),
        "operators": len(registry.ops),
        "graph_passes": [f"{p.name} ({p.plugin})" for p in registry.graph_passes],
        "config": {key: {"value": config.get(key), "source": config.source(key)}
                   for key in sorted(config.DEFAULTS)},
        "config_files": [{"kind": f.kind, "path": f.path and str(f.path), "found": f.found,
                          "note": f.note, "keys": sorted(f.values)} for f in config.files()],
    }


def _file_status(item: dict) -> str:
    """``file /p/mxlite.toml: sets backends.order``, ``user file /h/config.toml: not found``."""
    name = " ".join(filter(None, (item["kind"], item["path"])))
    found = f"sets {', '.join(item['keys'])}" if item["keys"] else \
        "found" if item["found"] else "not found" if item["path"] else ""
    return f"{name}: {'; '.join(filter(None, (found, item['note'])))}"


def _print_text(report: dict) -> None:
    for plugin in report["plugins"]:
        origin = plugin["distribution"] and f"{plugin['distribution']} {plugin['version']}"
        skipped = plugin["skipped"] or ""
        status = skipped if skipped.startswith("disabled") else \
            f"SKIPPED: {skipped}" if skipped else "loaded"
        print(f"{plugin['name']} ({origin or 'registered in code'}): {status}")
        if plugin.get("note"):
            print(f"  note: {plugin['note']}")
        if plugin["entry_point"]:
            print(f"  entry point: {plugin['entry_point']}")
        if plugin["ops"]:
            print(f"  operators ({len(plugin['ops'])}): {', '.join(plugin['ops'])}")
        if plugin["kernels"]:
            kernels = ", ".join(f"{op}[{backend}]" for op, backend in plugin["kernels"])
            print(f"  kernels ({len(plugin['kernels'])}): {kernels}")
        if plugin["update_kernels"]:
            updates = ", ".join(f"{opt}[{backend}]" for opt, backend in plugin["update_kernels"])
            print(f"  optimizer updates ({len(plugin['update_kernels'])}): {updates}")
        for key, label in (("graph_passes", "graph passes"), ("config", "configuration keys")):
            if plugin[key]:
                print(f"  {label} ({len(plugin[key])}): {', '.join(plugin[key])}")
    print(f"backend order: {', '.join(report['backend_order'])}")
    print(f"{report['operators']} operators registered")
    if report["graph_passes"]:
        print(f"graph passes at bind, in order: {', '.join(report['graph_passes'])}")
    print("configuration files, lowest precedence first (then the environment, then "
          "mx.config.set):")
    for item in report["config_files"]:
        print(f"  {_file_status(item)}")
    print("configuration:")
    for key, item in report["config"].items():
        print(f"  {key} = {item['value']!r} ({item['source']})")


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
    try:
        report = _report()
    except config.ConfigError as err:  # a broken configuration file: say which, no traceback
        print(f"mxlite: {err}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(report, sys.stdout, indent=2, default=repr)
        print()
    else:
        _print_text(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
