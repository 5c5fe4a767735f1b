"""``python -m trainers.tsslbp``: train TSSL-BP under the shared protocol (trainers.common.cli)."""

from eventpipe.runtime.platform import enable_torch_huge_pages, keep_freed_memory

enable_torch_huge_pages()  # before torch is imported

from trainers.common.cli import main  # noqa: E402  (after the setting above)
from trainers.tsslbp.method import METHOD  # noqa: E402

if __name__ == "__main__":
    keep_freed_memory()
    main(METHOD)
