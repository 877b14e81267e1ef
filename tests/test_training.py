"""The training framework: hooks, criteria, loss parts, typed supervision, declared hyperparameters."""

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import deephash.methods as M
from deephash.losses import (
    DPSHLoss,
    HashLoss,
    PairLikelihood,
    PairwiseHashLoss,
    SignSquared,
    Supervision,
    TargetBCE,
    TripletHashLoss,
    pair_nll,
)
from deephash.methods.hyperparameters import Hyperparameter, describe_hyperparameters
from deephash.training import HOOK_POINTS, Criterion, Hook, MemoryBank, TripletMiner

pytestmark = pytest.mark.usefixtures("torch_one_thread")


@pytest.fixture(scope="module")
def small(digits):
    xt, yt, xq, _ = digits
    return xt[:200], yt[:200], xq[:50]


# --------------------------------------------------------------------------------- hooks
class _Recorder(Hook):
    def __init__(self):
        self.calls = []

    def on_fit_start(self, run):
        self.calls.append(("fit_start", len(run.stages)))

    def on_epoch_start(self, run):
        self.calls.append(("epoch_start", run.epoch))

    def on_step(self, run):
        self.calls.append(("step", run.stage.step))

    def on_epoch_end(self, run):
        self.calls.append(("epoch_end", run.epoch))

    def on_fit_end(self, run):
        self.calls.append(("fit_end", all(not m.training for st in run.stages for m in st.net.modules)))


def test_hooks_are_called_at_every_point_in_order(small):
    xt, yt, _ = small
    rec = _Recorder()
    M.DPSH(bits=8, seed=0, epochs=2, batch_size=64, progress=False).fit(xt, yt, callbacks=[rec])
    steps_per_epoch = -(-200 // 64)
    kinds = [c[0] for c in rec.calls]
    assert kinds[0] == "fit_start" and kinds[-1] == "fit_end" and rec.calls[-1][1] is True
    assert kinds.count("epoch_start") == kinds.count("epoch_end") == 2
    assert [c[1] for c in rec.calls if c[0] == "step"] == list(range(2 * steps_per_epoch))
    assert set(HOOK_POINTS) == {"on_fit_start", "on_epoch_start", "on_step", "on_epoch_end", "on_fit_end"}


def test_a_hook_must_have_a_hook_method(small):
    xt, yt, _ = small
    with pytest.raises(TypeError, match="a hook needs one of the methods"):
        M.DPSH(bits=8, epochs=1, progress=False).fit(xt, yt, callbacks=[object()])


def test_dcmh_runs_on_the_same_loop_with_two_stages(small):
    xt, yt, _ = small
    rec = _Recorder()
    m = M.DCMH(bits=8, seed=0, epochs=2, batch_size=64, progress=False)
    m.fit(xt[:, :32], xt[:, 32:], yt, callbacks=[rec])
    assert rec.calls[0] == ("fit_start", 2)
    assert len(m.history_) == 3  # the initial objective and one per epoch
    with pytest.raises(TypeError, match="no training loop"):
        M.CCAITQ(bits=8).fit(xt[:, :32], xt[:, 32:], yt, callbacks=[rec])


# HashNet's continuation: the code layer is tanh(beta * z) and beta is raised on a schedule
# (1, then x ``growth`` every epoch). Written as a head and a hook: the loop is not edited.
class _ScaledTanhHead(torch.nn.Module):
    def __init__(self, in_dim, bits):
        super().__init__()
        self.linear = torch.nn.Linear(in_dim, bits)
        self.beta = 1.0

    def forward(self, x):
        return torch.tanh(self.beta * self.linear(x))


class Continuation(Hook):
    """Raises every ``beta`` of the trained modules to ``start * growth**epoch`` at each epoch start."""

    def __init__(self, start=1.0, growth=2.0):
        self.start, self.growth, self.seen = start, growth, []

    def on_epoch_start(self, run):
        for st in run.stages:
            for module in st.net.modules:
                for sub in module.modules():
                    if hasattr(sub, "beta"):
                        sub.beta = self.start * self.growth**run.epoch
                        self.seen.append(sub.beta)


class _HashNetLike(M.DeepHashingMethod):
    name = "HashNetLike"
    default_backbone = "features"

    def make_head(self, in_dim, hidden, standardize, n_classes=0):
        return _ScaledTanhHead(in_dim, self.bits)

    def make_loss(self):
        return DPSHLoss(0.0)

    def make_hooks(self):
        self.continuation = Continuation()
        return [self.continuation]


def test_hashnet_continuation_is_a_hook_without_a_loop_edit(small):
    xt, yt, xq = small
    m = _HashNetLike(bits=8, seed=0, epochs=4, progress=False).fit(xt, yt)
    assert m.continuation.seen == [1.0, 2.0, 4.0, 8.0]
    assert m._head.beta == 8.0
    u = m.transform(xq)
    assert np.abs(u).mean() > 0.5  # a sharper tanh: outputs move toward +-1
    # without the hook, beta stays 1 and training differs
    plain = type("Plain", (_HashNetLike,), {"make_hooks": lambda self: []})
    assert not np.array_equal(plain(bits=8, seed=0, epochs=4, progress=False).fit(xt, yt).transform(xq), u)


class _SelfSchedulingHead(_ScaledTanhHead):
    """The continuation as part of the head: a trained module with a hook method registers itself."""

    def on_epoch_start(self, run):
        self.beta = 1.5**run.epoch


class _HeadScheduled(_HashNetLike):
    name = "HeadScheduled"

    def make_head(self, in_dim, hidden, standardize, n_classes=0):
        return _SelfSchedulingHead(in_dim, self.bits)

    def make_hooks(self):
        return []


def test_heads_and_losses_with_hook_methods_register_themselves(small):
    xt, yt, _ = small
    rec = _Recorder()
    m = _HeadScheduled(bits=8, seed=0, epochs=3, progress=False).fit(xt, yt, callbacks=[rec])
    assert m._head.beta == 1.5**2
    assert rec.calls[0] == ("fit_start", 1)


# ---------------------------------------------------------------------------- criteria
def test_memory_bank_wraps_a_loss_and_grows_with_the_items_seen():
    seen = []

    class Spy(PairwiseHashLoss):
        def __init__(self):
            super().__init__(pair=PairLikelihood(0.5))

        def step_loss(self, inputs):
            seen.append(inputs.ref_u.shape[0])
            return super().step_loss(inputs)

    labels = torch.tensor([0, 1, 0, 1, 0, 1])
    bank = MemoryBank(Spy(), 6, 4, labels)
    for ids in ([0, 1], [2, 3], [0, 1], [4, 5], [2, 3]):
        ids = torch.tensor(ids)
        from deephash.losses import LossInputs

        u = torch.randn(2, 4, requires_grad=True)
        loss = bank.step_loss(LossInputs(u=u, labels=labels[ids], ids=ids))
        assert loss.ndim == 0
    assert seen == [2, 4, 4, 6, 6]
    torch.testing.assert_close(bank.outputs[2:4], bank.outputs[2:4])  # the latest rows are stored
    with pytest.raises(ValueError, match="neither pairs nor triplets"):
        MemoryBank(_Outputs(), 6, 4, labels)


class _Outputs(HashLoss):
    def step_loss(self, inputs):
        return inputs.u.pow(2).mean()


def test_criterion_needs_a_matching_miner():
    class Plain(TripletHashLoss):
        def compute_loss(self, a, p, n, gains):
            return (a - p).pow(2).mean()

    with pytest.raises(ValueError, match="pass a miner"):
        Criterion(Plain())
    with pytest.raises(ValueError, match="graded"):
        Criterion(Plain(), TripletMiner(2, graded=True))
    with pytest.raises(ValueError, match="would be ignored"):
        Criterion(_Outputs(), TripletMiner(2))
    assert Criterion(Plain(), TripletMiner(2)).miner.per_anchor == 2


# ------------------------------------------------------------------------ loss parts
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_pair_likelihood_and_target_bce_by_hand(dtype):
    u = torch.tensor([[1.0, -1.0], [0.5, 0.5]])
    v = torch.tensor([[1.0, 1.0], [-1.0, 0.0]])
    s = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    theta = 0.5 * (u @ v.T)  # [[0, -0.5], [0.5, -0.25]]
    expect = np.log1p(np.exp(theta.numpy())) - s.numpy() * theta.numpy()
    np.testing.assert_allclose(PairLikelihood(0.5)(u, v, s).numpy(), expect, rtol=1e-6)
    np.testing.assert_allclose(pair_nll(theta, s).numpy(), expect, rtol=1e-6)
    weighted = PairLikelihood(0.5, class_weights=(2.0, 0.5))(u, v, s).numpy()
    np.testing.assert_allclose(weighted, expect * np.where(s.numpy() > 0, 2.0, 0.5), rtol=1e-6)
    t = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    bce = np.mean(np.log1p(np.exp(u.numpy())) - (t.numpy() + 1) / 2 * u.numpy())
    assert float(TargetBCE()(u, t)) == pytest.approx(bce, rel=1e-6)
    # the composed DPSH loss: one upcast, the result in the input's dtype
    labels = torch.tensor([0, 1])
    got = DPSHLoss(0.3)(u.to(dtype), labels)
    assert got.dtype == dtype
    composed = PairwiseHashLoss(pair=PairLikelihood(0.5), quantization=SignSquared(), weight=0.3)
    want = composed(u.double(), labels)
    tol = 1e-2 if dtype in (torch.float16, torch.bfloat16) else 1e-6
    assert float(got) == pytest.approx(float(want), rel=tol)
    with pytest.raises(ValueError, match="class_weights"):
        PairLikelihood(1.0, class_weights=(1.0,))
    with pytest.raises(ValueError, match="scale"):
        PairLikelihood(0.0)


# --------------------------------------------------------------------- typed supervision
def test_consumes_is_checked_when_the_class_is_defined():
    with pytest.raises(TypeError, match="not Supervision members"):

        class Typo(HashLoss):
            consumes = frozenset({"pair"})

    with pytest.raises(TypeError, match="frozenset"):

        class NotASet(HashLoss):
            consumes = ["pairs"]

    with pytest.warns(DeprecationWarning, match="strings are deprecated"):

        class Old(HashLoss):
            consumes = frozenset({"pairs"})

    assert Old.consumes == frozenset({Supervision.PAIRS}) and "pairs" in Old.consumes


# ---------------------------------------------------------------------- hyperparameters
def test_every_method_declares_its_hyperparameters():
    for name in M.registry.method_names():
        cls = M.method_class(name)
        for h in cls.hyperparameters:
            assert isinstance(h, Hyperparameter) and h.doc and "\n" not in h.doc, (name, h.name)
            h.check(h.default, name)  # the defaults are valid
        assert set(cls.hyperparameter_defaults) == {h.name for h in cls.hyperparameters}, name
        for old, new in cls.renamed.items():
            assert new in cls.hyperparameter_defaults and old not in cls.hyperparameter_defaults
    assert "quantization = 0.1" in describe_hyperparameters(M.DPSH)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: M.DPSH(quantization=-1.0), "quantization must be a number >= 0"),
        (lambda: M.DSH(margin=0), "margin must be a number > 0"),
        (lambda: M.DNNH(epsilon=0.5), "epsilon"),
        (lambda: M.ITQ(itq_iterations=1.5), "itq_iterations must be an int"),
        (lambda: M.SemanticHashing(hidden=[0]), "hidden must be a list of positive ints"),
        (lambda: M.DH(init="pca"), "init must be one of"),
        (lambda: M.LSH(center="yes"), "center must be a bool"),
    ],
)
def test_hyperparameters_are_checked_at_construction(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_renamed_hyperparameters_warn_and_map():
    with pytest.warns(DeprecationWarning, match="called 'quantization'"):
        m = M.DPSH(lam=0.2)
    assert m.params == {"quantization": 0.2}
    with pytest.warns(DeprecationWarning):
        assert M.ITQ(n_iter=7).params["itq_iterations"] == 7
    with pytest.warns(DeprecationWarning):
        assert M.DCMH(gamma=3.0, eta=0.5).params == {"quantization": 3.0, "balance": 0.5}
    with pytest.raises(TypeError, match="not both"):
        M.DSH(alpha=0.1, quantization=0.2)


def test_training_settings_a_method_does_not_use_are_refused():
    with pytest.raises(TypeError, match="LSH does not use the training setting"):
        M.LSH(epochs=3, lr=5.0)
    with pytest.raises(TypeError, match="epochs"):
        M.ITQ(config=M.TrainConfig(epochs=3))
    with pytest.raises(TypeError, match="num_workers"):
        M.DCMH(num_workers=2)
    with pytest.raises(TypeError, match="CCAITQ does not use"):
        M.CCAITQ(progress=False)
    M.LSH(progress=False, cache_dir=False)  # what feature extraction reads is accepted
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        M.DPSH(epochs=3, lr_schedule="cosine", memory_bank=False)


def test_data_parallel_training_reaches_no_private_attribute():
    # distributed/train.py goes through public hooks of the run and the method: it neither
    # assigns nor reads another object's private attributes (a rename elsewhere cannot break it).
    import ast
    from pathlib import Path

    import deephash.distributed.train as dt

    tree = ast.parse(Path(dt.__file__).read_text())
    private = [
        f"line {n.lineno}: .{n.attr}"
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute)
        and n.attr.startswith("_")
        and not n.attr.startswith("__")
        and not (isinstance(n.value, ast.Name) and n.value.id == "self")
    ]
    assert private == []


def test_method_classes_import_without_torch():
    # the registry, every method class and the hyperparameter declarations need no torch: it is
    # imported when a deep method is fitted or loaded
    import subprocess
    import sys

    code = (
        "import sys, deephash.methods as M\n"
        "for n in M.registry.method_names():\n"
        "    M.method_class(n).hyperparameters\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
