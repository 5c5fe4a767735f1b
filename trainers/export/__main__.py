"""``python -m trainers.export``: see :mod:`trainers.export.cli`."""

from trainers.export.cli import main

if __name__ == "__main__":
    main()
