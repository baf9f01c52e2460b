"""Generates the API reference from the package itself, so that a new module or package appears without edits.

One page per public package (``docs/api/<package>.rst``): the package's docstring, a table of the names in its
``__all__`` (what users import), then one section per public module of the package documenting the names that
module defines. Every object is documented once, under the module that defines it; a cross-reference to the
name a package re-exports (``pyro_drpm.distributions.DRPM``) or to a name imported into a docstring's module is
resolved to that entry by :func:`resolve_reexports`. Modules whose names are all defined elsewhere (the moved-module
shims) and private modules (``_name``) get no section.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path
from types import ModuleType

from sphinx.util import logging

PACKAGE = "pyro_drpm"
logger = logging.getLogger(__name__)
#: id(object) -> the full name it is documented under; filled by write_pages
CANONICAL: dict[int, str] = {}


def _is_private(name: str) -> bool:
    return any(part.startswith("_") for part in name.split("."))


def public_modules() -> list[tuple[str, bool]]:
    """``(name, is_package)`` for every public module of the package, in walk order."""
    root = importlib.import_module(PACKAGE)
    found = [(PACKAGE, True)]
    for info in pkgutil.walk_packages(root.__path__, prefix=PACKAGE + "."):
        if not _is_private(info.name):
            found.append((info.name, info.ispkg))
    return found


def _exported(module: ModuleType) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            n
            for n, v in vars(module).items()
            if not n.startswith("_") and getattr(v, "__module__", None) == module.__name__
        ]
    return [n for n in names if n != "__version__"]


def defined_names(module: ModuleType) -> list[str]:
    """The names of ``module.__all__`` that ``module`` itself defines (classes, functions and module-level data)."""
    source = inspect.getsource(module)
    names = []
    for name in _exported(module):
        value = getattr(module, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            if value.__module__ == module.__name__:
                names.append(name)
        elif re.search(rf"^{re.escape(name)}\s*(:[^=\n]*)?=", source, flags=re.MULTILINE):
            names.append(name)
    return names


def canonical_names() -> dict[int, str]:
    """``id(object)`` -> the full name it is documented under, for every documented object."""
    canonical: dict[int, str] = {}
    for name, _ in public_modules():
        module = importlib.import_module(name)
        for attribute in defined_names(module):
            value = getattr(module, attribute)
            if id(value) not in canonical or attribute == getattr(value, "__name__", None):  # not an alias's name
                canonical[id(value)] = f"{name}.{attribute}"
    for name, is_package in public_modules():  # exported from a private module: documented on the package's page
        if is_package:
            module = importlib.import_module(name)
            for attribute in _exported(module):
                canonical.setdefault(id(getattr(module, attribute)), f"{name}.{attribute}")
    return canonical


def documented_here(module_name: str) -> list[str]:
    """The names the section of ``module_name`` documents (needs ``CANONICAL``)."""
    module = importlib.import_module(module_name)
    names = defined_names(module)
    if hasattr(module, "__path__"):
        names += [
            attribute
            for attribute in _exported(module)
            if attribute not in names and CANONICAL.get(id(getattr(module, attribute))) == f"{module_name}.{attribute}"
        ]
    return names


def package_entries(package: str) -> list[str]:
    """The documented full name of every name in ``package.__all__``, in its order (an alias keeps its name)."""
    module = importlib.import_module(package)
    entries = []
    for attribute in _exported(module):
        full = CANONICAL.get(id(getattr(module, attribute)))
        if full is not None:
            home = full.rpartition(".")[0]
            entries.append(f"{home}.{attribute}" if attribute in documented_here(home) else full)
        else:
            entries.append(f"{package}.{attribute}")  # not documented anywhere: check_completeness reports it
    return entries


def _title(text: str, underline: str) -> list[str]:
    return [text, underline * len(text), ""]


def _entries(module_name: str, names: list[str]) -> list[str]:
    """One autodoc directive per name: classes with their documented members, functions, data."""
    module = importlib.import_module(module_name)
    lines = []
    for name in names:
        value = getattr(module, name)
        if inspect.isclass(value):
            lines += [
                f".. autoclass:: {module_name}.{name}",
                "   :members:",
                "   :undoc-members:",
                "   :show-inheritance:",
                "",
            ]
        elif inspect.isfunction(value):
            lines += [f".. autofunction:: {module_name}.{name}", ""]
        else:
            lines += [f".. autodata:: {module_name}.{name}", ""]
    return lines


def write_pages(output: Path) -> list[str]:
    """Write ``output/<package>.rst`` for every public package and ``output/index.rst``; return the page names."""
    output.mkdir(parents=True, exist_ok=True)
    modules = public_modules()
    CANONICAL.update(canonical_names())
    packages = [name for name, is_package in modules if is_package]
    for package in packages:
        own = documented_here(package)
        lines = _title(f"``{package}``", "=")
        lines += [f".. automodule:: {package}", ""]
        targets = [entry for entry in package_entries(package) if id(_import(entry)) in CANONICAL]
        if targets:
            lines += [
                ".. rubric:: Public names",
                "",
                ".. currentmodule:: None",
                "",
                ".. autosummary::",
                "   :nosignatures:",
                "",
            ]
            lines += [f"   ~{target}" for target in targets] + [""]
        children = [name for name in packages if name.rpartition(".")[0] == package]
        if children:
            lines += [".. rubric:: Sub-packages", ""] + [f"- :mod:`{child}`" for child in children] + [""]
        lines += _entries(package, own)
        for module_name in [name for name, is_pkg in modules if not is_pkg and name.rpartition(".")[0] == package]:
            documented = documented_here(module_name)
            if documented:
                lines += _title(f"``{module_name}``", "-")
                lines += [f".. automodule:: {module_name}", ""] + _entries(module_name, documented)
        (output / f"{package}.rst").write_text("\n".join(lines))
    index = _title("API reference", "=")
    index += [
        "Generated from the docstrings, one page per package. Each page lists the names the package exports (import",
        "them from the package) and documents each one under the module that defines it.",
        "",
        ".. toctree::",
        "   :maxdepth: 1",
        "",
    ]
    index += [f"   {package}" for package in packages] + [""]
    (output / "index.rst").write_text("\n".join(index))
    return packages


def resolve_reexports(app, env, node, contnode):
    """``missing-reference``: resolve a re-exported or imported name to the entry of the object it names."""
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    if not target or _is_private(target.rpartition(".")[2]):
        return None
    candidates = [target]
    context = node.get("py:module")
    if context and not target.startswith(PACKAGE):
        if node.get("py:class"):
            candidates.append(f"{context}.{node['py:class']}.{target}")
        candidates.append(f"{context}.{target}")
    domain = env.get_domain("py")
    if "." not in target:  # a bare name outside its module's context (a summary table): unique among the entries
        matches = {full for full, entry in domain.objects.items() if full.endswith(f".{target}") and not entry.aliased}
        if len(matches) == 1:
            candidates.append(matches.pop())
    for candidate in candidates:
        obj = _import(candidate)
        if obj is None:
            continue
        if inspect.ismodule(obj):
            name = _nearest_documented_module(domain, obj.__name__)
        else:
            name = CANONICAL.get(id(obj))
            if name is None and inspect.isroutine(obj) and "." in getattr(obj, "__qualname__", ""):
                owner = CANONICAL.get(id(_import(f"{obj.__module__}.{obj.__qualname__.rpartition('.')[0]}")))
                name = owner and f"{owner}.{obj.__name__}"
        if name and name != target:
            for role, reference in domain.resolve_any_xref(env, node["refdoc"], app.builder, name, node, contnode):
                if role.startswith("py:"):
                    return reference
    return None


def _import(dotted: str):
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        try:
            for attribute in parts[split:]:
                obj = getattr(obj, attribute)
        except AttributeError:
            return None
        return obj
    return None


def _nearest_documented_module(domain, name: str) -> str | None:
    while name:
        if name in domain.modules:
            return name
        name = name.rpartition(".")[0]
    return None


def check_completeness(app, env):
    """``env-check-consistency``: every name in a public package's ``__all__`` has an entry (else a warning)."""
    objects = env.get_domain("py").objects
    for package, is_package in public_modules():
        if is_package:
            for entry in package_entries(package):
                if entry not in objects:
                    logger.warning(f"{entry} is exported by {package} but has no API entry")


def setup(app):
    app.connect("missing-reference", resolve_reexports)
    app.connect("env-check-consistency", check_completeness)
    return {"parallel_read_safe": True}
