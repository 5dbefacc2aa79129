"""Build step: compile the translations (.po, kept in git) into the .mo catalogs the wheel ships.

Everything else about the package is declared in pyproject.toml.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithCatalogs(build_py):
    """build_py, then each copied messages.po compiled beside itself, as `make translations`
    does in a checkout (fuzzy entries left out, as pybabel compile does)."""

    def run(self) -> None:
        """Copy the package, then compile its catalogs in the build folder."""
        super().run()
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        translations = Path(self.build_lib, "helpdesk", "translations")
        for po_file in translations.glob("*/LC_MESSAGES/*.po"):
            with po_file.open("rb") as source:
                catalog = read_po(source, locale=po_file.parts[-3])
            with po_file.with_suffix(".mo").open("wb") as target:
                write_mo(target, catalog)


setup(cmdclass={"build_py": BuildPyWithCatalogs})
