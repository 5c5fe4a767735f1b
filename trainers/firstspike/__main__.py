"""``python -m trainers.firstspike``: first-spike coding under the shared protocol."""

from eventpipe.runtime.platform import enable_torch_huge_pages, keep_freed_memory

enable_torch_huge_pages()  # before torch is imported

from trainers.firstspike.cli import main  # noqa: E402  (after the setting above)

if __name__ == "__main__":
    keep_freed_memory()
    main()
