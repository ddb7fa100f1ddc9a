"""FID Inception port and Fréchet distance against pytorch-fid (skipped without the `ref` extra)."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import run_script
from evaluation import metrics

torch = pytest.importorskip("torch", reason="reference equality needs the ref extra: pip install .[ref]")
pytorch_fid_inception = pytest.importorskip("pytorch_fid.inception", reason="needs pytorch-fid (ref extra)")
pytorch_fid_score = pytest.importorskip("pytorch_fid.fid_score", reason="needs pytorch-fid (ref extra)")


def random_inception_state(seed: int = 0) -> dict:
    """Random weights with the keys and shapes of pytorch-fid's network (He-scaled convs, BatchNorm
    near identity) so that activations keep an O(1) scale through the 94 layers."""
    import torchvision  # noqa: PLC0415

    template = torchvision.models.inception_v3(num_classes=1008, aux_logits=False, weights=None,
                                               init_weights=False).state_dict()
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in template.items():
        if key.endswith("num_batches_tracked"):
            state[key] = torch.zeros_like(value)
        elif key.endswith(("running_var", "bn.weight")):
            state[key] = 0.5 + torch.rand(value.shape, generator=gen)
        elif key.endswith(("running_mean", "bn.bias", "fc.bias")):
            state[key] = 0.1 * torch.randn(value.shape, generator=gen)
        else:
            fan_in = value[0].numel()
            state[key] = torch.randn(value.shape, generator=gen) * (2.0 / fan_in) ** 0.5
    return state


@pytest.fixture(scope="module")
def reference_net():
    """pytorch-fid's InceptionV3 (block 3) with random weights in place of its download."""
    state = random_inception_state()
    original = pytorch_fid_inception.load_state_dict_from_url
    pytorch_fid_inception.load_state_dict_from_url = lambda *a, **k: state
    try:
        net = pytorch_fid_inception.InceptionV3([3]).eval()
    finally:
        pytorch_fid_inception.load_state_dict_from_url = original
    return net, state


def test_resize_matches_torch_bilinear():
    from lsgen.runtime import jt
    from evaluation.fid import resize_bilinear

    x = np.random.default_rng(0).random((2, 3, 37, 50)).astype(np.float32)
    ours = resize_bilinear(jt.array(x), 299, 299).numpy()
    ref = torch.nn.functional.interpolate(torch.from_numpy(x), size=(299, 299), mode="bilinear",
                                          align_corners=False).numpy()
    assert np.abs(ours - ref).max() < 1e-5  # float32 summation order


def test_features_equal_pytorch_fid_through_converter(reference_net, tmp_path):
    from evaluation.fid import load_fid_inception
    from lsgen.runtime import jt

    net, state = reference_net
    pth = tmp_path / "pt_inception-random.pth"
    torch.save(state, pth)
    out = tmp_path / "fid.safetensors"
    result = run_script("scripts/convert_fid_weights.py", "--src", str(pth), "--out", str(out))
    assert result.returncode == 0, result.stderr
    images = np.random.default_rng(1).random((2, 3, 96, 128)).astype(np.float32)
    with torch.no_grad():
        ref = net(torch.from_numpy(images))[0].squeeze(-1).squeeze(-1).numpy()
    model = load_fid_inception(out)
    with jt.no_grad():
        ours = model(jt.array(images)).numpy()
    assert ours.shape == ref.shape == (2, 2048)
    assert ref.std() > 0.05, "random weights must give non-degenerate features"
    assert np.abs(ours - ref).max() < 1e-4


def test_fid_scorer_is_zero_for_the_reference_itself(reference_net, tmp_path):
    from evaluation.fid import FIDScorer

    _, state = reference_net
    pth, out = tmp_path / "w.pth", tmp_path / "w.safetensors"
    torch.save(state, pth)
    assert run_script("scripts/convert_fid_weights.py", "--src", str(pth), "--out", str(out)).returncode == 0
    rng = np.random.default_rng(4)
    reference = rng.integers(0, 256, (3, 48, 64, 3), dtype=np.uint8)
    scorer = FIDScorer(out, reference, batch_size=3)
    assert scorer.fid(reference) == pytest.approx(0.0, abs=1e-6)
    assert scorer.fid(255 - reference) > 1e-3


def test_converter_rejects_foreign_state_dict(tmp_path):
    pth = tmp_path / "other.pth"
    torch.save({"conv.weight": torch.zeros(3, 3, 1, 1)}, pth)
    result = run_script("scripts/convert_fid_weights.py", "--src", str(pth), "--out", str(tmp_path / "o.safetensors"))
    assert result.returncode == 2
    assert result.stderr.startswith("error:") and "missing keys" in result.stderr
    assert not (tmp_path / "o.safetensors").exists()


@pytest.mark.parametrize("shift", [0.0, 0.05, 1.0])
def test_frechet_distance_equals_pytorch_fid(shift):
    rng = np.random.default_rng(2)
    mixing = rng.standard_normal((40, 40))
    a = rng.standard_normal((400, 40)) @ mixing
    b = rng.standard_normal((300, 40)) @ (mixing + shift * rng.standard_normal((40, 40))) + shift
    ref = pytorch_fid_score.calculate_frechet_distance(*metrics.feature_stats(a), *metrics.feature_stats(b))
    assert abs(metrics.frechet_distance_features(a, b) - ref) < 1e-6
