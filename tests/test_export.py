"""Across to PyTorch and back: ``tinyunet export --torch`` and ``tinyunet import --torch``.

For every model family (every model class of ``tinyunet.models`` and every twin registered in
``tinyunet.torch_twins.TWINS``, so new families are covered as they land): the exported
``model.py`` gives the tinyunet model's outputs, and weights trained on in PyTorch come back
and give the PyTorch outputs, with and without DDP's ``module.`` prefix. One optimizer step
taken in each framework from the same exported state gives the same weights and moments (and
BatchNorm statistics); the exported files are PyTorch's formats, and ``model.py`` runs where
tinyunet cannot be imported.
"""

import ast
import importlib.util
import inspect
import json
import subprocess
import sys
import uuid

import numpy as np
import pytest

import tinyunet as tu
import tinyunet.models
from tinyunet import io
from tinyunet.cli import main
from tinyunet.interop import export_torch, import_torch
from tinyunet.interop.source import twin_registry
from tinyunet.predict import load_model

# ----- the model families, each in a tiny configuration ------------------------------------------
MODEL_CLASSES = sorted(n for n in tinyunet.models.__all__
                       if isinstance(getattr(tinyunet.models, n), type))
FAMILIES = sorted(set(MODEL_CLASSES) | set(twin_registry()))
TINY = {  # families whose defaults are no small-model guess; the rest: guessed below
    "UNet": [dict(base_channels=4, depth=2), dict(base_channels=4, depth=2, norm="batch"),
             dict(base_channels=4, depth=2, norm="group", up_mode="nearest"),
             dict(base_channels=4, depth=2, padding="valid", up_mode="bilinear")],
    "DiffusionUNet": [dict(in_channels=2, base_channels=4, channel_mults=(1, 2),
                           attention_levels=(1,), num_tokens=6, num_heads=2),
                      dict(base_channels=4, channel_mults=(1, 1, 2), attention_levels=(0,),
                           mid_attention=False)],
    "UNetPlusPlus": [dict(base_channels=4, depth=2),
                     dict(base_channels=4, depth=2, norm="batch", deep_supervision=True)],
}
SMALL = dict(base_channels=4, depth=2, channel_mults=(1, 2), attention_levels=(1,))


def tiny_configs(name):
    if name in TINY:
        return TINY[name]
    accepted = inspect.signature(getattr(tinyunet.models, name)).parameters
    config = {k: v for k, v in SMALL.items() if k in accepted}
    return [config] + ([dict(config, norm="batch")] if "norm" in accepted else [])


CASES = [pytest.param(name, config, id=f"{name}-{i}")
         for name in FAMILIES for i, config in enumerate(tiny_configs(name))]
OPTIMIZER_CASES = [pytest.param(name, tiny_configs(name)[-1], id=name) for name in FAMILIES]


def tiny_model(name, config, seed=0):
    """The model in float64, with every all-zero parameter (a zero-initialised last layer)
    made random and BatchNorm's statistics made non-trivial, so no comparison is vacuous."""
    tu.manual_seed(seed)
    model = getattr(tinyunet.models, name)(**config).double()
    rng = np.random.default_rng(seed)
    for p in model.parameters():
        if not p.data.any():
            p.data[...] = rng.uniform(-0.3, 0.3, p.shape)
    for key, b in model.named_buffers():
        if key.endswith("running_mean"):
            b.data[...] = rng.normal(0, 0.2, b.shape)
        elif key.endswith("running_var"):
            b.data[...] = rng.uniform(0.5, 2.0, b.shape)
        elif key.endswith("num_batches_tracked"):
            b.data[...] = 7
    return model


def example_inputs(model, seed=0):
    """(x, *extra): a batch of 2 with the model's channels and as many spatial dims as its
    first weight has; a DiffusionUNet also gets timesteps and token ids."""
    rng = np.random.default_rng(seed)
    weight = next(p for p in model.parameters() if p.ndim >= 3)
    config = model.config
    size = 44 if config.get("padding") == "valid" else 16
    x = rng.standard_normal((2, config.get("in_channels", weight.shape[1]))
                            + (size,) * (weight.ndim - 2))
    if type(model).__name__ == "DiffusionUNet":
        tokens = config["num_tokens"]
        return x, np.array([3, 700]), rng.integers(0, tokens, (2, 3)) if tokens else None
    return (x,)


def load_module(path, name=None):
    """A generated file as a fresh module (each export folder has its own model.py)."""
    spec = importlib.util.spec_from_file_location(name or f"exported_{uuid.uuid4().hex}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def save_checkpoint(path, model, optimizer=None):
    state = {"model": model.state_dict(), "model_class": type(model).__name__,
             "model_config": model.config}
    if optimizer is not None:
        state["optimizer"] = optimizer.state_dict()
    io.save(state, path)
    return path


def torch_inputs(torch, inputs):
    return (torch.from_numpy(inputs[0]), *inputs[1:])


# ----- export: the same network in PyTorch ------------------------------------------------------
@pytest.mark.parametrize("name,config", CASES)
def test_exported_model_gives_the_same_outputs(torch, tmp_path, name, config):
    model = tiny_model(name, config)
    written = export_torch(save_checkpoint(tmp_path / "ck.safetensors", model), tmp_path / "out")
    exported = load_module(written["model.py"])
    net = exported.load(written["model"])
    inputs = example_inputs(model)
    for training in (False, True):  # eval: BatchNorm's running statistics; train: the batch's
        model.train(training)
        net.train(training)
        with tu.no_grad(), torch.no_grad():
            out = model(tu.Tensor(inputs[0]), *inputs[1:]).data
            out_t = net(*torch_inputs(torch, inputs)).numpy()
        np.testing.assert_allclose(out_t, out, rtol=1e-10, atol=1e-12)
    arch = json.loads(written["arch"].read_text())
    assert arch["model_class"] == name
    assert net.state_dict().keys() == model.state_dict().keys()


@pytest.mark.parametrize("name,config", CASES)
@pytest.mark.parametrize("prefix", ["", "module."], ids=["plain", "ddp"])
def test_pytorch_weights_import_back(torch, tmp_path, name, config, prefix):
    from safetensors.torch import save_file

    model = tiny_model(name, config)
    written = export_torch(save_checkpoint(tmp_path / "ck.safetensors", model), tmp_path / "out")
    exported = load_module(written["model.py"])
    torch.manual_seed(1)
    net = exported.build().double()  # PyTorch's own initialisation: weights tinyunet never had
    with torch.no_grad():
        for key, b in net.named_buffers():
            if key.endswith(("running_mean", "running_var")):
                b.uniform_(0.5, 1.5)
            elif key.endswith("num_batches_tracked"):
                b.fill_(11)
    save_file({prefix + k: v for k, v in net.state_dict().items()}, tmp_path / "sd.safetensors")
    back = import_torch(tmp_path / "sd.safetensors", written["arch"], tmp_path / "back.st")

    model = getattr(tinyunet.models, name)(**config).double().eval()
    model.load_state_dict(io.load(back)["model"])
    inputs = example_inputs(model)
    with tu.no_grad(), torch.no_grad():
        out = model(tu.Tensor(inputs[0]), *inputs[1:]).data
        out_t = net.eval()(*torch_inputs(torch, inputs)).numpy()
    np.testing.assert_allclose(out, out_t, rtol=1e-10, atol=1e-12)
    loaded = load_model(back)  # what `tinyunet predict` does: float32, eval mode
    with tu.no_grad():
        out32 = loaded(tu.Tensor(inputs[0].astype(np.float32)), *inputs[1:]).data
    np.testing.assert_allclose(out32, out_t, rtol=1e-4, atol=1e-4)


# ----- one optimizer step in each framework from the same exported state -------------------------
def take_steps(model, optimizer, inputs, g, n):
    for _ in range(n):
        optimizer.zero_grad()
        (model(tu.Tensor(inputs[0]), *inputs[1:]) * tu.Tensor(g)).sum().backward()
        optimizer.step()


@pytest.mark.parametrize("name,config", OPTIMIZER_CASES)
def test_one_adam_step_in_each_framework_agrees(torch, tmp_path, name, config):
    check_one_step(torch, tmp_path, name, config, lambda params: tu.optim.Adam(params, lr=1e-2))


@pytest.mark.parametrize("make", [
    lambda params: tu.optim.AdamW(params, lr=1e-2, weight_decay=0.1, amsgrad=True),
    lambda params: tu.optim.SGD(params, lr=1e-2, momentum=0.9, weight_decay=1e-3),
    lambda params: tu.optim.SGD(params, lr=1e-2, momentum=0.9, nesterov=True),
], ids=["AdamW-amsgrad", "SGD-momentum", "SGD-nesterov"])
def test_one_step_of_adamw_and_sgd_agrees(torch, tmp_path, make):
    check_one_step(torch, tmp_path, "UNet", dict(base_channels=4, depth=2, norm="batch"), make)


def check_one_step(torch, tmp_path, name, config, make_optimizer):
    """Two steps in tinyunet (so the moments are not zero), export, then one more step in
    each framework on the same batch and loss: the same weights, state and statistics."""
    model = tiny_model(name, config).train()
    optimizer = make_optimizer(model.parameters())
    inputs = example_inputs(model)
    out_shape = model(tu.Tensor(inputs[0]), *inputs[1:]).shape
    g = np.random.default_rng(3).standard_normal(out_shape)
    take_steps(model, optimizer, inputs, g, 2)
    ck = save_checkpoint(tmp_path / "ck.safetensors", model, optimizer)
    written = export_torch(ck, tmp_path / "out")

    exported = load_module(written["model.py"])
    net = exported.load(written["model"]).train()
    torch_optimizer = exported.load_optimizer(written["optimizer"], net)
    assert type(torch_optimizer).__name__ == type(optimizer).__name__
    fresh = type(torch_optimizer)(net.parameters())
    assert torch_optimizer.param_groups[0].keys() == fresh.param_groups[0].keys()

    take_steps(model, optimizer, inputs, g, 1)
    torch_optimizer.zero_grad()
    (net(*torch_inputs(torch, inputs)) * torch.from_numpy(g)).sum().backward()
    torch_optimizer.step()

    # weights and buffers (BatchNorm's running statistics). atol: a bias right before a norm
    # that gives each channel its own group has a gradient of pure rounding noise (the norm
    # removes any shift), which Adam's m / (sqrt(v) + eps) turns into steps of ~1e-9 that
    # differ between the frameworks; a step of lr = 1e-2 is 1e7 times larger
    torch_state = net.state_dict()
    for key, value in model.state_dict().items():
        np.testing.assert_allclose(torch_state[key].numpy(), value, rtol=1e-9, atol=1e-8,
                                   err_msg=key)
    params = dict(net.named_parameters())
    names = [key for key, _ in model.named_parameters()]  # the optimizer's order
    # (parameters that never had a gradient, such as unused deep-supervision heads, have none)
    assert len(optimizer.state_dict()["state"]) == len(torch_optimizer.state) > 0
    for index, state in optimizer.state_dict()["state"].items():
        key = names[index]
        torch_entries = torch_optimizer.state[params[key]]
        assert torch_entries.keys() == state.keys(), key
        for entry, value in state.items():
            got = torch_entries[entry]
            if entry == "step":  # PyTorch's is a float32 scalar tensor
                assert got.dtype == torch.float32 and got.shape == () and float(got) == value
            else:
                np.testing.assert_allclose(got.numpy(), value, rtol=1e-9, atol=1e-14,
                                           err_msg=f"{key} {entry}")


def test_batchnorm_statistics_are_exported_and_move_alike(torch, tmp_path):
    model = tiny_model("UNet", dict(base_channels=4, depth=2, norm="batch")).train()
    written = export_torch(save_checkpoint(tmp_path / "ck.safetensors", model), tmp_path / "out")
    net = load_module(written["model.py"]).load(written["model"]).train()
    before = model.state_dict()["encoder.0.norm1.running_mean"].copy()
    x = example_inputs(model)[0]
    model(tu.Tensor(x))
    net(torch.from_numpy(x))
    state = net.state_dict()
    assert state["encoder.0.norm1.num_batches_tracked"].dtype == torch.int64
    for key, value in model.state_dict().items():
        if "running" in key or "num_batches" in key:
            np.testing.assert_allclose(state[key].numpy(), value, rtol=1e-12, err_msg=key)
    assert int(state["encoder.0.norm1.num_batches_tracked"]) == 8
    assert not np.allclose(before, state["encoder.0.norm1.running_mean"].numpy())


# ----- the files are PyTorch's, and model.py needs nothing of tinyunet ----------------------------
def test_the_registry_read_from_source_is_torch_twins_own(torch):
    from tinyunet.torch_twins import TWINS

    registry = twin_registry()
    assert registry.keys() == TWINS.keys()
    for name, (module, twin) in registry.items():
        assert (TWINS[name].__module__, TWINS[name].__name__) == (
            f"tinyunet.torch_twins.{module}", twin)


def test_every_model_family_has_a_twin():
    missing = sorted(set(MODEL_CLASSES) - set(twin_registry()))
    assert missing == [], f"add a PyTorch twin to tinyunet/torch_twins/ for {missing}"


def test_model_py_runs_where_tinyunet_cannot_be_imported(torch, tmp_path):
    folders, expected = [], []
    for name in FAMILIES:
        model = tiny_model(name, tiny_configs(name)[0]).eval()
        folder = tmp_path / name
        export_torch(save_checkpoint(tmp_path / f"{name}.safetensors", model), folder)
        inputs = example_inputs(model)
        np.save(folder / "x.npy", inputs[0])
        (folder / "extra.json").write_text(json.dumps([None if a is None else a.tolist()
                                                       for a in inputs[1:]]))
        with tu.no_grad():
            expected.append(model(tu.Tensor(inputs[0]), *inputs[1:]).data)
        folders.append(folder)
        tree = ast.parse((folder / "model.py").read_text())
        imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                    for a in n.names}
        imported |= {n.module.split(".")[0] for n in ast.walk(tree)
                     if isinstance(n, ast.ImportFrom)}
        assert imported <= {"torch", "safetensors", "json", "math"}, imported
    script = (
        "import importlib.util, json, sys\n"
        "sys.modules['tinyunet'] = None  # any import of tinyunet now fails\n"
        "import numpy as np, torch\n"
        "for folder in sys.argv[1:]:\n"
        "    spec = importlib.util.spec_from_file_location('m', folder + '/model.py')\n"
        "    m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "    net = m.load(folder + '/model.safetensors').eval()\n"
        "    extra = [None if a is None else np.array(a)\n"
        "             for a in json.load(open(folder + '/extra.json'))]\n"
        "    with torch.no_grad():\n"
        "        y = net(torch.from_numpy(np.load(folder + '/x.npy')), *extra)\n"
        "    np.save(folder + '/y.npy', y.numpy())\n")
    subprocess.run([sys.executable, "-c", script, *map(str, folders)], check=True, timeout=120)
    for folder, out in zip(folders, expected):
        np.testing.assert_allclose(np.load(folder / "y.npy"), out, rtol=1e-10, atol=1e-12)


# ----- import: mismatches are named, nothing is written -------------------------------------------
def test_a_mismatch_names_the_key_and_both_shapes(tmp_path):
    model = tiny_model("UNet", dict(base_channels=4, depth=2))
    written = export_torch(save_checkpoint(tmp_path / "ck.safetensors", model), tmp_path / "out")
    state = io.load(written["model"])
    state["head.weight"] = np.zeros((2, 5, 1, 1))
    state["extra.weight"] = np.zeros(3)
    del state["head.bias"]
    io.save(state, tmp_path / "bad.safetensors")
    with pytest.raises(ValueError) as error:
        import_torch(tmp_path / "bad.safetensors", written["arch"], tmp_path / "back.st")
    text = str(error.value)
    assert "'head.weight': (2, 5, 1, 1) in" in text and "(2, 4, 1, 1) in UNet(" in text
    assert "missing key 'head.bias'" in text and "unexpected key 'extra.weight'" in text
    assert not (tmp_path / "back.st").exists()


def test_export_and_import_commands(torch, tmp_path, capsys):
    model = tiny_model("UNet", dict(base_channels=4, depth=2)).float()
    ck = save_checkpoint(tmp_path / "ck.safetensors", model)
    assert main(["export", "--torch", str(ck), str(tmp_path / "out"), "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "model.py" in printed and "train_ddp.py" not in printed  # no training run: no script
    out = tmp_path / "out"
    net = load_module(out / "model.py").load(out / "model.safetensors")
    # a torch.save file of a DDP-wrapped model, as PyTorch scripts often write one
    torch.save({"module." + k: v for k, v in net.state_dict().items()}, tmp_path / "net.pt")
    assert main(["import", "--torch", str(tmp_path / "net.pt"), "--arch", str(out / "arch.json"),
                 str(tmp_path / "back.safetensors")]) == 0
    back = load_model(tmp_path / "back.safetensors")
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[key], value)


@pytest.mark.parametrize("name", ["export", "import"])
def test_help_shows_options_and_examples(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "--torch" in text


# ----- model.py: what a twin needs, inlined from its siblings -------------------------------------
def test_model_py_inlines_only_what_the_twin_uses():
    from tinyunet.interop.source import model_source

    text = model_source("Classifier", dict(base_channels=4, depth=2))
    assert "class ConvBlock" in text and "def _norm" in text  # taken from unet.py
    assert "class UNet" not in text and "def center_crop" not in text  # not needed
    assert "from ." not in text and "tinyunet." not in text.split('"""', 2)[2]


def test_model_py_refuses_what_it_cannot_inline(tmp_path):
    from tinyunet.interop.source import Assembler

    (tmp_path / "a.py").write_text("import torch\n\n\nclass Block:\n    pass\n")
    (tmp_path / "b.py").write_text("from .a import Block as Base\n\n\nclass Block(Base):\n"
                                   "    pass\n\n\nclass Net(Block):\n    pass\n")
    assembler = Assembler(tmp_path)
    with pytest.raises(ValueError, match="two different 'Block': one from a.py and one from b"):
        assembler.require("b", "Net")
    (tmp_path / "e.py").write_text("from .a import Block as Base\n\n\nclass One(Base):\n"
                                   "    pass\n\n\nclass Two(One):\n    base = Base\n")
    assembler = Assembler(tmp_path)
    assembler.require("e", "Two")  # the alias, once, before both classes that use it
    assert assembler.chunks == ["class Block:\n    pass", "Base = Block", "class One(Base):\n"
                                "    pass", "class Two(One):\n    base = Base"]
    (tmp_path / "c.py").write_text("from . import a\n")
    with pytest.raises(ValueError, match="import a sibling's pieces by name"):
        Assembler(tmp_path).require("c", "Net")
    (tmp_path / "d.py").write_text("print('side effect')\n")
    with pytest.raises(ValueError, match="found: print\\('side effect'\\)"):
        Assembler(tmp_path).require("d", "Net")


def test_a_diffuse_checkpoint_exports_its_network(torch, tmp_path):
    model = tiny_model("DiffusionUNet", TINY["DiffusionUNet"][0]).eval()
    io.save({"model": model.state_dict(), "config": model.config,
             "ddpm": {"timesteps": 10, "schedule": "cosine"}}, tmp_path / "model.safetensors")
    written = export_torch(tmp_path / "model.safetensors", tmp_path / "out")
    assert "train_ddp.py" not in written and "optimizer" not in written  # weights only
    net = load_module(written["model.py"]).load(written["model"]).eval()
    inputs = example_inputs(model)
    with tu.no_grad(), torch.no_grad():
        np.testing.assert_allclose(net(*torch_inputs(torch, inputs)).numpy(),
                                   model(tu.Tensor(inputs[0]), *inputs[1:]).data, rtol=1e-10)
