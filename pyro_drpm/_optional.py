"""Optional dependencies: import them, or fail with an :class:`ImportError` that names the extra to install."""

from __future__ import annotations

import importlib
from types import ModuleType

#: import name -> the name pip installs it under, where they differ
_DISTRIBUTIONS = {"sklearn": "scikit-learn"}


def require_extra(extra: str, *modules: str) -> list[ModuleType]:
    """Import ``modules``, which ``pyro-drpm[extra]`` installs, or raise an :class:`ImportError` naming the extra.

    Example::

        >>> [module.__name__ for module in require_extra("clustering", "scipy")]
        ['scipy']

    :param extra: the name of the extra (``pyproject.toml``'s ``[project.optional-dependencies]``) that installs
        the modules.
    :param modules: top-level import names.
    :returns: the imported modules.
    :raises ImportError: when one of them is missing; the message says what to ``pip install``.
    """
    imported = []
    for name in modules:
        try:
            imported.append(importlib.import_module(name))
        except ModuleNotFoundError as error:
            if error.name != name:  # the module exists but one of its own imports failed: not ours to explain
                raise
            raise ImportError(
                f"this part of pyro_drpm needs {_DISTRIBUTIONS.get(name, name)}, which is not installed; "
                f"install it with: pip install 'pyro-drpm[{extra}]'"
            ) from error
    return imported
