"""``python -m condensekit`` is the same as the ``condensekit`` command."""

from condensekit.cli import console_main

if __name__ == "__main__":
    console_main()
