"""Name registries and plugin discovery shared by tasks and model adapters.

Plugins register themselves when their module is imported: a file in a plugin folder, or a
package exposing an entry point in the group of the registry (``vlm_eval.tasks``,
``vlm_eval.models``, ``vlm_eval.families``). Plugins declared as data (tasks in ``*.yaml``
files) are read from the same folders, and from the folder of a package an entry point names.
Built-ins with heavy dependencies are registered by name and module (``Registry.add_lazy``),
imported on first ``get``.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """A task, model or family name that no plugin registered; the message lists the valid
    names."""

    def __init__(self, kind: str, name: str, valid: Iterable[str], plural: str | None = None):
        listed = ", ".join(sorted(valid))
        self.message = f"unknown {kind} {name!r}; available {plural or kind + 's'}: {listed}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


class PluginError(RuntimeError):
    """A plugin could not be imported or registered."""


class Registry(Generic[T]):
    """Maps names to plugin classes, refusing two different definitions of one name.

    ``read_declared`` registers the plugin a ``*.yaml`` file declares (tasks); with it, an entry
    point naming a package also declares the ``*.yaml`` files of the package's folder.
    """

    def __init__(
        self,
        kind: str,
        entry_point_group: str,
        plural: str | None = None,
        read_declared: Callable[[Path], None] | None = None,
    ):
        self.kind = kind
        self.plural = plural or f"{kind}s"
        self.entry_point_group = entry_point_group
        self.read_declared = read_declared
        self._entries: dict[str, T] = {}
        self._origins: dict[str, str] = {}
        self._lazy_modules: dict[str, str] = {}
        self._summaries: dict[str, str] = {}
        self._entry_points_loaded = False

    def add(
        self, name: str, entry: T, *, origin: str | None = None, summary: str | None = None
    ) -> None:
        """Register ``entry`` as ``name``; registering again from the same source file is fine.

        ``origin`` and ``summary`` replace the source file and docstring line of an entry not
        defined in Python (a task declared in a YAML file)."""
        if not isinstance(name, str) or not name:
            raise PluginError(f"{entry!r}: a {self.kind} needs a non-empty string name")
        origin = origin or _source_of(entry)
        if name in self._entries and self._origins[name] != origin:
            raise PluginError(
                f"{self.kind} {name!r} is defined twice: in {self._origins[name]} and in {origin}"
            )
        self._entries[name] = entry
        self._origins[name] = origin
        if summary is not None:
            self._summaries[name] = summary

    def add_lazy(self, name: str, module: str) -> None:
        """Register ``name`` as defined in ``module``, which is imported (and registers it) on
        the first ``get`` of ``name``: listing names imports none of its dependencies."""
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise PluginError(f"{self.kind} {name!r}: module {module} not found")
        self._lazy_modules[name] = module
        self._origins[name] = spec.origin

    def get(self, name: str) -> T:
        """The entry registered as ``name``, or ``UnknownNameError`` listing the valid names."""
        self.load_entry_points()
        if name not in self._origins:
            raise UnknownNameError(self.kind, name, self._origins, self.plural)
        if name not in self._entries:
            module = self._lazy_modules[name]
            importlib.import_module(module)
            if name not in self._entries:
                raise PluginError(f"{module} did not register the {self.kind} {name!r}")
        return self._entries[name]

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        self.load_entry_points()
        return sorted(self._origins)

    def origin(self, name: str) -> str:
        """Where the entry registered as ``name`` is defined."""
        return self._origins[name]

    def summary(self, name: str) -> str:
        """The first docstring line of the module defining ``name`` (a plugin file's says what it
        is), else of the entry's; for a lazy entry not imported yet, its module's, read from the
        source."""
        if name in self._summaries:
            return self._summaries[name]
        if name in self._entries:
            entry = self._entries[name]
            doc = sys.modules[entry.__module__].__doc__ or entry.__doc__
        else:
            doc = ast.get_docstring(ast.parse(Path(self._origins[name]).read_text()))
        return (doc or "").strip().split("\n", 1)[0]

    def load_entry_points(self) -> None:
        """Import the installed packages that expose plugins in this registry's group (once);
        with ``read_declared``, read the ``*.yaml`` files in the folder of each package."""
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for entry_point in entry_points(group=self.entry_point_group):
            try:
                loaded = entry_point.load()
                # A package (not a lone module, whose folder is site-packages) ships its files.
                if self.read_declared is not None:
                    for folder in getattr(loaded, "__path__", ()):
                        import_declared_files(Path(folder), self.read_declared)
            except Exception as error:
                raise PluginError(
                    f"entry point {entry_point.name!r} ({entry_point.value}) of group "
                    f"{self.entry_point_group!r} failed to load: {error}"
                ) from error


def _source_of(entry: object) -> str:
    try:
        return inspect.getsourcefile(entry) or repr(entry)  # type: ignore[arg-type]
    except TypeError:
        return repr(entry)


_imported_files: set[Path] = set()


def import_plugin_folder(folder: Path, read_declared: Callable[[Path], None] | None = None) -> None:
    """Import every ``*.py`` file of ``folder`` (not starting with ``_``), once per file; with
    ``read_declared``, also give it every ``*.yaml`` file, once per file."""
    if not folder.is_dir():
        raise PluginError(f"plugin folder {folder} does not exist or is not a folder")
    for path in sorted(folder.glob("*.py")):
        if not path.name.startswith("_"):
            import_plugin_file(path)
    if read_declared is not None:
        import_declared_files(folder, read_declared)


def import_declared_files(folder: Path, read_declared: Callable[[Path], None]) -> None:
    """Give ``read_declared`` every ``*.yaml`` file of ``folder``, once per file."""
    for path in sorted(folder.glob("*.yaml")):
        if path.resolve() not in _imported_files:
            read_declared(path)
            _imported_files.add(path.resolve())


def import_plugin_file(path: Path) -> None:
    """Import the Python file at ``path`` as a uniquely named module, once."""
    path = path.resolve()
    if path in _imported_files:
        return
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:10]
    module_name = f"vlm_eval_plugins.{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise PluginError(f"{path}: not an importable Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        del sys.modules[module_name]
        raise PluginError(f"{path}: plugin failed to import: {error}") from error
    _imported_files.add(path)
