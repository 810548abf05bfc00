"""Options shared by the commands that run a model (`--threads` and friends), defined once."""

from __future__ import annotations

THREADS_HELP = "torch CPU threads (default: torch's; 1 is often several times faster on a busy 2-core machine)"


def add_threads(parser) -> None:
    """`--threads N`: torch CPU threads for the command."""
    parser.add_argument("--threads", type=int, default=None, help=THREADS_HELP)


def apply_threads(args) -> None:
    """Set torch's CPU threads when `--threads` was given (counts are checked at the CLI's edge)."""
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
