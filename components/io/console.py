"""Where a person watches a run: progress bars write to `console()`, not to sys.stderr.

`recap materialize` sends its process's stdout and stderr (Dagster's debug log, every
library's warnings and notices) to a log file and keeps the terminal for its own lines
(recap_dagster/console.py); it sets the console to that terminal here, so the training bar
(components/training/progress.py) and the recaptioning bar still reach it. Anywhere else (a
run launched from the UI, a test, a script) the console is sys.stderr, as before.

Also here: the library notices the project cannot avoid, silenced where they are logged
(`quiet_library_notices`), each with the reason it cannot be avoided.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import TextIO

_console: TextIO | None = None


def console() -> TextIO:
    """The stream a person reads: the terminal a command saved, else sys.stderr (looked up
    now, so pytest's capture and a redirected sys.stderr are honoured)."""
    return _console if _console is not None else sys.stderr


def set_console(stream: TextIO | None) -> TextIO | None:
    """Makes `stream` the console (None: sys.stderr again); returns the previous setting."""
    global _console
    previous, _console = _console, stream
    return previous


class _DropMessages(logging.Filter):
    """Drops the records whose message any of `patterns` finds."""

    def __init__(self, *patterns: str) -> None:
        super().__init__()
        self.patterns = [re.compile(p) for p in patterns]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(pattern.search(message) for pattern in self.patterns)


# Logger name -> the notices dropped from it (regular expressions). A filter on a logger sees
# only the records that logger itself makes, so each is set on the logger that makes the notice
# (found by reading the library), by name: nothing here imports the library.
KNOWN_NOTICES: dict[str, tuple[str, ...]] = {
    # Lightning 2.6 logs this tip at every Trainer whose loggers include no LitLogger (its
    # LoggerConnector.configure_logger, unconditionally): the project logs to MLflow and cannot
    # use LitLogger, a cloud service. rank_zero_info logs through whichever of these modules
    # was imported last.
    "lightning.pytorch.utilities.rank_zero": (r"Tip: .*litlogger",),
    "lightning.fabric.utilities.rank_zero": (r"Tip: .*litlogger",),
    "lightning_utilities.core.rank_zero": (r"Tip: .*litlogger",),
    # diffusers' StableDiffusionPipeline mixes in IPAdapterMixin, whose module imports
    # transformers' CLIPImageProcessor and SiglipImageProcessor; transformers 5 maps those names
    # to processors that need torchvision and, without it, falls back to the PIL ones with this
    # notice, once per name. The project never uses either processor (its pipelines have no
    # feature extractor); torchvision, a dependency that must match torch's build (CPU here,
    # CUDA on a GPU machine), would be installed only to silence it.
    "transformers.utils.import_utils": (r"requires torchvision \(not installed\); falling back to",),
    # diffusers 0.42's AutoencoderTiny registers `block_out_channels` in its own config (a copy
    # of decoder_block_out_channels, its __init__), so save_pretrained writes it and every
    # from_pretrained of that folder then warns that the key is unexpected. Only that key alone.
    # StableDiffusionPipeline's __init__ annotates vae: AutoencoderKL and text_encoder:
    # CLIPTextModel, and DiffusionPipeline.from_pretrained warns when the folder holds another
    # class; the pipeline itself runs any autoencoder with decode() and scaling_factor and any
    # transformers encoder whose first output is the token states, which is what the generator
    # is built from (AutoencoderTiny, MiniLM). A pipeline class declaring those types would
    # have to ship as remote code, and from_pretrained would then refuse the folder without
    # trust_remote_code (README, "The generator").
    "diffusers.pipelines.pipeline_utils": (
        r"^Expected types for vae: .*, got .*AutoencoderTiny",
        r"^Expected types for text_encoder: .*CLIPTextModel.*, got ",
    ),
    "diffusers.configuration_utils": (
        r"^The config attributes \{'block_out_channels': \[[0-9, ]*\]\} were passed to AutoencoderTiny,",
    ),
}


def quiet_library_notices() -> None:
    """Silences KNOWN_NOTICES (idempotent): called by components/training/fit.py and by the
    `recap` CLI and the Dagster definitions before anything imports those libraries."""
    for name, patterns in KNOWN_NOTICES.items():
        logger = logging.getLogger(name)
        if not any(isinstance(f, _DropMessages) for f in logger.filters):
            logger.addFilter(_DropMessages(*patterns))
