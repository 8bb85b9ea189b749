"""Containers, as ``torch.nn``: ``Sequential`` runs layers in order, ``ModuleList`` holds them
so that their parameters are registered (names "0", "1", ..., as in PyTorch's state_dict)."""

from __future__ import annotations

from collections import OrderedDict

from .module import Module


class Sequential(Module):
    """Layers applied in order: ``Sequential(Conv2d(1, 8, 3), ReLU())``; names "0", "1", ...

    Also accepts one OrderedDict of named layers. Indexing gives a layer, slicing a new
    Sequential sharing the layers.
    """

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, module in modules[0].items():
                self.add_module(name, module)
        else:
            for i, module in enumerate(modules):
                self.add_module(str(i), module)

    def forward(self, x):
        for module in self._modules.values():
            x = module(x)
        return x

    def append(self, module: Module):
        self.add_module(str(len(self)), module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        modules = list(self._modules.items())
        if isinstance(index, slice):
            return Sequential(OrderedDict(modules[index]))
        return modules[_index(self, index)][1]


class ModuleList(Module):
    """A list of layers whose parameters are registered (a plain list's would be invisible
    to ``parameters()`` and ``state_dict()``); names "0", "1", ..."""

    def __init__(self, modules=None):
        super().__init__()
        for module in modules or ():
            self.append(module)

    def append(self, module: Module):
        self.add_module(str(len(self)), module)
        return self

    def extend(self, modules):
        for module in modules:
            self.append(module)
        return self

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def __getitem__(self, index):
        if isinstance(index, slice):
            return ModuleList(list(self._modules.values())[index])
        return self._modules[str(_index(self, index))]

    def __setitem__(self, index, module: Module) -> None:
        self.add_module(str(_index(self, index)), module)


def _index(container, index: int) -> int:
    n = len(container)
    if not -n <= index < n:
        raise IndexError(f"index {index} is out of range for {type(container).__name__} of "
                         f"length {n}")
    return index % n
