"""``torchrun`` for PyTorch before 2.0 on Python 3.11 (Debian 12's python3-torch 1.13), whose own torchrun fails at
start with ``AttributeError: 'NoneType' object has no attribute 'get'``: Python 3.11 no longer lists the zero-valued
``Std.NONE`` when iterating an ``IntFlag``, so ``Std.from_str("0")`` returns None (fixed in PyTorch 2.0, see
pytorch/pytorch#92319). This script parses ``--redirects`` / ``--tee`` correctly, then runs torchrun itself with the
same arguments:

    python3 python/torchrun_py311.py --standalone --nproc_per_node 2 python/train_ddp.py ...

Where ``Std.from_str`` already works it changes nothing.
"""
import re

from torch.distributed import run
from torch.distributed.elastic.multiprocessing import api

if api.Std.from_str("0") is None:
    def _from_str(vm: str):
        if re.fullmatch(api._VALUE_REGEX, vm):
            return api.Std(int(vm))
        if re.fullmatch(api._MAPPING_REGEX, vm):
            return {int(i): api.Std(int(v)) for i, v in (m.split(":") for m in vm.split(","))}
        raise ValueError(f"{vm} does not match {api._VALUE_REGEX} or {api._MAPPING_REGEX}")

    api.Std.from_str = staticmethod(_from_str)

if __name__ == "__main__":
    run.main()
