"""SingLoRA for PyTorch: the twin of SingLoRA.Gen's runtime (src/SingLoRA), reading and writing the same adapter files.

Train the adapters that a .NET model saved with ``SaveAdapters`` on PyTorch's distributed engine (``torchrun`` + DDP),
then load the result back in .NET with ``LoadAdapters``. Needs torch and numpy only. The math: docs/method.md; the file
format: docs/adapter-format.md; the distributed round trip: docs/distributed.md.
"""
__version__ = "0.1.0"

from .layer import SingLoRALinear, SingLoRAOptions, ramp_value  # noqa: E402
from .model import (adapted_layers, adapter_parameters, advance_ramp, freeze_all_but_adapters, inject_singlora,  # noqa: E402
                    merge_adapters, set_ramp_step, unmerge_adapters, unwrap)
from .files import AdapterLoadError, attach_adapters, load_adapters, read_config, save_adapters  # noqa: E402
from .safetensors import SafeTensorsFormatError, load_file, save_file  # noqa: E402

__all__ = [
    "SingLoRALinear", "SingLoRAOptions", "ramp_value",
    "adapted_layers", "adapter_parameters", "advance_ramp", "freeze_all_but_adapters", "inject_singlora",
    "merge_adapters", "set_ramp_step", "unmerge_adapters", "unwrap",
    "AdapterLoadError", "attach_adapters", "load_adapters", "read_config", "save_adapters",
    "SafeTensorsFormatError", "load_file", "save_file",
]
