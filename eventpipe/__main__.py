"""``python -m eventpipe ...``: see :mod:`eventpipe.cli`."""

from eventpipe.cli import main

if __name__ == "__main__":
    main()
