"""The shape of the imports: no circles, imports at the top, ``__all__`` on public modules,
and a command line that loads the ML and Kafka stacks only for the command that needs them.

The rules read the source with ``ast``: an import placed in a function still counts (a
circle dodged that way is still a circle); only one marked ``# lazy: why`` may stay there,
for the heavy optional libraries (torch and what imports it).
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import click

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("classifiers", "connectors", "records", "worker")
LAZY_MARK = "# lazy:"


@dataclass(frozen=True)
class Import:
    importer: str
    target: str  # the project module imported
    name: str | None  # for ``from target import name``
    line: int
    in_function: bool
    marked_lazy: bool


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    defines_all: bool = False
    all_names: set[str] = field(default_factory=set)


@cache
def project() -> tuple[dict[str, Module], tuple[Import, ...]]:
    modules: dict[str, Module] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            name = ".".join(parts[:-1] if is_package else parts)
            modules[name] = Module(name, path, is_package)
    imports: list[Import] = []
    for module in modules.values():
        source = module.path.read_text(encoding="utf-8")
        tree = ast.parse(source)
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
            ):
                module.defines_all = True
                module.all_names = set(ast.literal_eval(node.value))
        _collect(tree, module, modules, source.splitlines(), imports, in_function=False)
    return modules, tuple(imports)


def _collect(
    node: ast.AST,
    module: Module,
    modules: dict[str, Module],
    lines: list[str],
    out: list[Import],
    *,
    in_function: bool,
) -> None:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for sub in child.orelse:
                _collect(sub, module, modules, lines, out, in_function=in_function)
            continue
        inner = in_function or isinstance(
            child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
        )
        if isinstance(child, ast.Import | ast.ImportFrom):
            text = "\n".join(lines[child.lineno - 1 : child.end_lineno])
            for target, name in _targets(child, module):
                if name is not None and f"{target}.{name}" in modules:
                    continue  # ``from package import module``: counted as the module
                resolved = _resolve(target, modules)
                if resolved is not None and resolved != module.name:
                    out.append(
                        Import(
                            module.name,
                            resolved,
                            name if resolved == target else None,
                            child.lineno,
                            in_function,
                            LAZY_MARK in text,
                        )
                    )
        _collect(child, module, modules, lines, out, in_function=inner)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, module: Module) -> list[tuple[str, str | None]]:
    if isinstance(node, ast.Import):
        return [(alias.name, None) for alias in node.names]
    base = node.module or ""
    if node.level:
        parts = module.name.split(".") if module.is_package else module.name.split(".")[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, *([node.module] if node.module else [])])
    # ``from pkg import mod`` imports the module pkg.mod; ``from mod import name`` a name.
    return [(f"{base}.{alias.name}", None) for alias in node.names] + [
        (base, alias.name) for alias in node.names
    ]


def _resolve(name: str, modules: dict[str, Module]) -> str | None:
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def _circles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return groups


def _package_of(module: Module) -> str:
    return module.name if module.is_package else module.name.rpartition(".")[0]


def test_the_project_has_no_import_circles() -> None:
    """No group of the project's modules imports itself round, imports in functions counted."""
    modules, imports = project()
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for imp in imports:
        edges[imp.importer].add(imp.target)
    assert _circles(edges) == []


def test_the_circle_finder_finds_a_circle() -> None:
    """The rule above can fail: a loop through three modules is reported as one group."""
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _circles(edges) == [["a", "b", "c"]]


def test_project_imports_inside_functions_are_marked_lazy() -> None:
    """An import of a project module inside a function carries ``# lazy: why``."""
    modules, imports = project()
    unmarked = sorted(
        {
            f"{modules[i.importer].path.relative_to(ROOT)}:{i.line} imports {i.target}"
            for i in imports
            if i.in_function and not i.marked_lazy
        }
    )
    assert unmarked == [], "move these to the top of the module, or mark them '# lazy: why'"


def test_lazy_marks_are_few_and_name_heavy_libraries() -> None:
    """Each lazy import says why, and the reasons are the heavy optional libraries."""
    modules, imports = project()
    reasons = set()
    for imp in imports:
        if imp.in_function and imp.marked_lazy:
            line = modules[imp.importer].path.read_text(encoding="utf-8").splitlines()[imp.line - 1]
            reasons.add(line.partition(LAZY_MARK)[2].strip())
    assert reasons <= {"torch", "transformers", "detoxify"}, reasons


def test_modules_other_packages_import_from_declare_all() -> None:
    """A module that another package imports names from lists them in its ``__all__``."""
    modules, imports = project()
    missing: dict[str, set[str]] = {}
    for imp in imports:
        target = modules[imp.target]
        if imp.name is None or _package_of(modules[imp.importer]) == _package_of(target):
            continue
        if not target.defines_all or imp.name not in target.all_names:
            missing.setdefault(imp.target, set()).add(imp.name)
    assert missing == {}


def _loaded_after(code: str) -> set[str]:
    """The top-level names in sys.modules after running ``code`` in a fresh interpreter."""
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(json.loads(result.stdout.splitlines()[-1]))


def test_triage_help_loads_no_command_and_no_heavy_library() -> None:
    """`triage --help` lists the commands without importing them, Kafka or the models."""
    loaded = _loaded_after(
        "import sys\nsys.argv = ['triage', '--help']\nfrom worker.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass"
    )
    assert {m for m in loaded if m.startswith("worker.cli.")} == set()
    for heavy in ("classifiers", "aiokafka", "faust", "sklearn", "torch"):
        assert heavy not in loaded


def test_importing_classifiers_loads_neither_kafka_nor_torch() -> None:
    """classifiers is pure: importing it loads no Kafka client and no torch."""
    loaded = _loaded_after("import classifiers")
    for heavy in ("aiokafka", "faust", "torch", "transformers", "worker"):
        assert heavy not in loaded


def test_triage_help_shows_each_commands_own_summary() -> None:
    """The summaries `triage --help` lists without importing are the commands' own."""
    from worker.cli import cli

    ctx = click.Context(cli, info_name="triage")
    lazy, eager = click.HelpFormatter(width=100), click.HelpFormatter(width=100)
    cli.format_commands(ctx, lazy)
    click.Group.format_commands(cli, ctx, eager)  # imports every command for its help
    assert lazy.getvalue() == eager.getvalue()
    assert "Commands:" in lazy.getvalue()
