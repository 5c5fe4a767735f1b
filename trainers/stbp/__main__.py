"""``python -m trainers.stbp``: train STBP under the shared protocol (trainers.common.cli)."""

from trainers.common.cli import main
from trainers.stbp.method import METHOD

if __name__ == "__main__":
    main(METHOD)
