"""One stand-alone PyTorch file from the twin sources: what a model family needs, inlined.

A twin module (:mod:`tinyunet.torch_twins`) may take pieces from its siblings
(``from .unet import ConvBlock``), but the exported ``model.py`` must import nothing but torch
and the standard library. So the file is assembled from the twin sources themselves: starting
from the twin class, every top-level definition it names is pulled in, from its own module or,
through a relative import, from a sibling, dependencies first and each once; the absolute
imports those definitions use go on top. The code is copied as written (comments included),
never regenerated, so the exported model reads like the twin it came from.
"""

from __future__ import annotations

import ast
import pprint
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

TWINS_DIR = Path(__file__).resolve().parent.parent / "torch_twins"


@dataclass
class _Definition:
    names: tuple[str, ...]  # what the statement binds (a class, a function, assignments)
    source: str             # its text, with the comment lines right above it
    uses: set[str]          # every name it mentions (a superset of the globals it needs)


@dataclass
class _Module:
    path: Path
    imports: dict[str, str] = field(default_factory=dict)   # bound name -> import statement
    siblings: dict[str, tuple[str, str]] = field(default_factory=dict)  # -> (module, name)
    definitions: dict[str, _Definition] = field(default_factory=dict)


def _parse(path: Path) -> _Module:
    text = path.read_text()
    lines = text.splitlines()
    tree = ast.parse(text)
    module = _Module(path)
    body = tree.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]  # the module docstring
    for node in body:
        where = f"{path.name}:{node.lineno}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                bound = alias.asname or alias.name.split(".")[0]
                module.imports[bound] = f"import {alias.name}" + (
                    f" as {alias.asname}" if alias.asname else "")
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            for alias in node.names:
                module.imports[alias.asname or alias.name] = (
                    f"from {node.module} import {alias.name}"
                    + (f" as {alias.asname}" if alias.asname else ""))
        elif isinstance(node, ast.ImportFrom):
            if node.level != 1 or node.module is None:
                raise ValueError(f"{where}: import a sibling's pieces by name (from .unet import "
                                 f"ConvBlock), so export can inline them")
            for alias in node.names:
                module.siblings[alias.asname or alias.name] = (node.module, alias.name)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.Assign, ast.AnnAssign)):
            definition = _Definition(_bound_names(node, where), _source(node, lines),
                                     {n.id for n in ast.walk(node) if isinstance(n, ast.Name)})
            for name in definition.names:
                module.definitions[name] = definition
        else:
            raise ValueError(f"{where}: a twin module holds imports, classes, functions and "
                             f"assignments only, found: {ast.unparse(node)[:60]}")
    return module


def _bound_names(node, where: str) -> tuple[str, ...]:
    if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
        return (node.name,)
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    names = []
    for target in targets:
        for leaf in (target.elts if isinstance(target, ast.Tuple) else [target]):
            if not isinstance(leaf, ast.Name):
                raise ValueError(f"{where}: only plain names can be assigned at module level")
            names.append(leaf.id)
    return tuple(names)


def _source(node, lines: list[str]) -> str:
    """The statement's lines (decorators included) and the comment lines right above it."""
    first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])]) - 1
    while first > 0 and lines[first - 1].lstrip().startswith("#"):
        first -= 1
    return "\n".join(lines[first:node.end_lineno])


class Assembler:
    """Collects definitions, dependencies first, from the twin modules (and extra files)."""

    def __init__(self, twins_dir: Path = TWINS_DIR):
        self.twins_dir = twins_dir
        self.modules: dict[str, _Module] = {}
        self.imports: list[str] = []
        self.chunks: list[str] = []
        self.owner: dict[str, str] = {}   # emitted top-level name -> the module it came from
        self._done: set[int] = set()
        self._visiting: set[int] = set()
        self._aliases: set[tuple[str, str]] = set()

    def module(self, name: str, path: Path | None = None) -> _Module:
        if name not in self.modules:
            self.modules[name] = _parse(path or self.twins_dir / f"{name}.py")
        return self.modules[name]

    def require(self, module_name: str, name: str) -> None:
        """Emit what ``name`` is in ``module_name`` (and, first, everything it uses)."""
        module = self.module(module_name)
        if name in module.siblings:
            sibling, original = module.siblings[name]
            self.require(sibling, original)
            if name != original and (module_name, name) not in self._aliases:
                self._aliases.add((module_name, name))
                self._emit(module_name, (name,), f"{name} = {original}")
        elif name in module.imports:
            if module.imports[name] not in self.imports:
                self.imports.append(module.imports[name])
        elif name in module.definitions:
            definition = module.definitions[name]
            key = id(definition)
            if key in self._done or key in self._visiting:
                return
            self._visiting.add(key)
            for used in sorted(definition.uses - set(definition.names)):
                self.require(module_name, used)
            self._visiting.discard(key)
            self._done.add(key)
            self._emit(module_name, definition.names, definition.source)
        # anything else is a builtin or a local variable

    def require_all(self, module_name: str, path: Path, replace: dict[str, str]) -> None:
        """Emit every definition of the file at ``path``; ``replace`` swaps the text of the
        named assignments (placeholders the export fills in)."""
        module = self.module(module_name, path)
        for name, text in replace.items():
            definition = module.definitions[name]
            definition.source = text
        for name in module.definitions:
            self.require(module_name, name)

    def _emit(self, module_name: str, names, source: str) -> None:
        for name in names:
            if self.owner.get(name, module_name) != module_name:
                raise ValueError(f"the exported file needs two different {name!r}: one from "
                                 f"{self.owner[name]}.py and one from {module_name}.py; rename "
                                 f"one of them")
            self.owner[name] = module_name
        self.chunks.append(source)

    def text(self) -> str:
        """The import block (sorted as isort does), then the definitions."""
        sections = {"__future__": [], "stdlib": [], "third": []}
        for statement in self.imports:
            module = statement.split()[1]
            top = module.split(".")[0]
            kind = (top if top == "__future__" else
                    "stdlib" if top in sys.stdlib_module_names else "third")
            sections[kind].append(statement)
        blocks = ["\n".join(_sorted_imports(lines)) for lines in sections.values() if lines]
        return "\n\n".join(blocks) + "\n\n\n" + "\n\n\n".join(self.chunks) + "\n"


def _sorted_imports(statements: list[str]) -> list[str]:
    """``import x`` lines first, then ``from x import a, b`` (one line per module), sorted."""
    plain = sorted(s for s in statements if s.startswith("import "))
    names: dict[str, list[str]] = {}
    for s in statements:
        if s.startswith("from "):
            _, module, _, name = s.split(" ", 3)
            names.setdefault(module, []).append(name)
    return plain + [f"from {m} import {', '.join(sorted(names[m]))}" for m in sorted(names)]


def twin_module_of(twin_class) -> str:
    """``tinyunet.torch_twins.unet`` -> ``unet``."""
    module = twin_class.__module__
    if not module.startswith("tinyunet.torch_twins."):
        raise ValueError(f"{twin_class.__name__} is not defined in tinyunet.torch_twins")
    return module.rpartition(".")[2]


# ----- model.py ---------------------------------------------------------------------------------
SHIPPED = Path(__file__).resolve().parent / "shipped"

HEADER = '''"""{name} in plain PyTorch: nothing in this file comes from tinyunet.

Written by `tinyunet export --torch` from tinyunet's PyTorch twin of the model
(tinyunet/torch_twins/{module}.py, with what it uses inlined), for the exported architecture

{call}

and the loaders of the files beside it (safetensors: loading one cannot run code):

    import model
    net = model.load("model.safetensors")      # the weights (and BatchNorm statistics)
    optimizer = model.load_optimizer("optimizer.safetensors", net)
    fresh = model.build()                       # the same network, freshly initialised

Needs torch and safetensors.
"""
'''


def twin_registry() -> dict[str, tuple[str, str]]:
    """``{model class: (twin module, twin name)}`` of ``TWINS``, read from the source of
    ``torch_twins/__init__.py`` (importing it would import torch, which export does without).
    Entries may be written ``TWINS = {"UNet": UNet, ...}`` or ``TWINS["UNet"] = UNet``."""
    tree = ast.parse((TWINS_DIR / "__init__.py").read_text())
    siblings, registry = {}, {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
            for alias in node.names:
                siblings[alias.asname or alias.name] = (node.module, alias.name)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
            if (isinstance(target, ast.Name) and target.id == "TWINS"
                    and isinstance(value, ast.Dict)):
                registry.update({k.value: v.id for k, v in zip(value.keys, value.values)
                                 if isinstance(k, ast.Constant) and isinstance(v, ast.Name)})
            elif (isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name)
                  and target.value.id == "TWINS" and isinstance(target.slice, ast.Constant)
                  and isinstance(value, ast.Name)):
                registry[target.slice.value] = value.id
    return {name: siblings[local] for name, local in registry.items() if local in siblings}


def twin_location(model_class: str) -> tuple[str, str]:
    """``(module, name)`` of the twin of ``model_class``, or an error naming those that exist."""
    registry = twin_registry()
    if model_class not in registry:
        raise ValueError(f"no PyTorch twin for {model_class}; twins exist for "
                         f"{sorted(registry)} (tinyunet/torch_twins/)")
    return registry[model_class]


def model_source(model_class: str, model_config: dict) -> str:
    """The text of ``model.py``: the twin of ``model_class`` and everything it uses, the
    loaders of ``shipped/model_io.py``, and the exported architecture."""
    module, name = twin_location(model_class)
    assembler = Assembler()
    assembler.require(module, name)
    architecture = {"model_class": model_class, "model_config": model_config}
    assembler.require_all("model_io", SHIPPED / "model_io.py", {
        "MODELS": f"MODELS = {{{model_class!r}: {name}}}",
        "ARCHITECTURE": "# the exported network: its tinyunet class name and config\n"
                        "ARCHITECTURE = " + pprint.pformat(architecture, width=88,
                                                           sort_dicts=False),
    })
    call = textwrap.fill(", ".join(f"{k}={v!r}" for k, v in model_config.items()), width=84,
                         initial_indent=f"    {model_class}(", subsequent_indent=" " * 8) + ")"
    return HEADER.format(name=model_class, module=module, call=call) + "\n" + assembler.text()
