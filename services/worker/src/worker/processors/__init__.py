"""Processors: the plugin API, the entry-point registry and the built-in processors."""

from worker.processors.api import (
    ArtifactSource,
    BinaryReader,
    Cancelled,
    Processor,
    ProcessorContext,
    ProcessorError,
    Retry,
)
from worker.processors.registry import (
    GROUP,
    DuplicateProcessorError,
    RegistryError,
    UnknownProcessorError,
    load_processors,
)

__all__ = [
    "GROUP",
    "ArtifactSource",
    "BinaryReader",
    "Cancelled",
    "DuplicateProcessorError",
    "Processor",
    "ProcessorContext",
    "ProcessorError",
    "RegistryError",
    "Retry",
    "UnknownProcessorError",
    "load_processors",
]
