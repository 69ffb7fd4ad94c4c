"""The packages import downward only (issue 18): worldmodel (the model and its format) knows
nothing of the chain or the game; onchain.sdk nothing of the backends; the backends nothing of
the local stack or the tools; the game sits on top. Every import is checked, the ones inside
functions included, by reading the source (ast), so a lazy upward import fails here too."""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# lowest first: a module may import from its own layer and the ones before it
LAYERS = ("worldmodel", "onchain.sdk", "onchain.backends", "onchain.localnet", "onchain.tools", "onchain",
          "game")


def layer_of(module: str) -> int:
    best = None
    for i, name in enumerate(LAYERS):
        if module == name or module.startswith(name + "."):
            if best is None or len(name) > len(LAYERS[best]):
                best = i
    return best


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(source: str, module: str, package: bool = False):
    """(line, absolute name) of everything `source` (module `module`; `package`: an __init__)
    imports, relative imports resolved; `from X import name` gives X.name where that is a module
    of ours, else X."""
    pkg = module.split(".") if package else module.split(".")[:-1]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield node.lineno, a.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(pkg[:len(pkg) - node.level + 1] + ([base] if base else []))
            for a in node.names:
                yield node.lineno, f"{base}.{a.name}" if layer_of(f"{base}.{a.name}") is not None else base


SOURCES = sorted(p for top in ("worldmodel", "onchain", "game") for p in (ROOT / top).rglob("*.py")
                 if "program" not in p.relative_to(ROOT).parts)


def test_every_module_has_a_layer():
    assert len(SOURCES) > 80
    for p in SOURCES:
        assert layer_of(module_name(p)) is not None, p


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_go_down(path):
    module = module_name(path)
    own = layer_of(module)
    upward = [(line, name) for line, name in imports(path.read_text(), module, path.name == "__init__.py")
              if (lay := layer_of(name)) is not None and lay > own]
    assert not upward, f"{module} ({LAYERS[own]}) imports upward: {upward}"


def test_the_check_sees_upward_imports():
    """The checker itself: lazy imports inside a function, absolute and relative, are resolved
    to their layer."""
    src = "def f():\n    from game import scripts\n    from ..onchain.sdk import pda\n    from . import sim\n"
    names = [n for _, n in imports(src, "worldmodel.probe")]
    assert names == ["game.scripts", "onchain.sdk.pda", "worldmodel.sim"]
    assert [layer_of(n) for n in names] == [LAYERS.index("game"), LAYERS.index("onchain.sdk"), 0]
