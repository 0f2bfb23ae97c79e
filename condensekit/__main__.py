"""``python -m condensekit`` is the same as the ``condensekit`` command."""

from condensekit.cli import main

if __name__ == "__main__":
    main()
