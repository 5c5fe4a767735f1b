"""``python -m trainers.slayer``: train SLAYER under the shared protocol (trainers.common.cli)."""

from trainers.common.cli import main
from trainers.slayer.method import METHOD

if __name__ == "__main__":
    main(METHOD)
