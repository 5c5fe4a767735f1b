"""``python -m trainers.stbp``: train STBP under the shared protocol (trainers.common.cli)."""

from eventpipe.runtime.platform import enable_torch_huge_pages, keep_freed_memory

enable_torch_huge_pages()  # before torch is imported

from trainers.common.cli import main  # noqa: E402  (after the setting above)
from trainers.stbp.method import METHOD  # noqa: E402

if __name__ == "__main__":
    keep_freed_memory()
    main(METHOD)
