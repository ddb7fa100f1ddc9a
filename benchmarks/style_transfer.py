#!/usr/bin/env python
"""Reference-style transfer: does the output take its reference's colours while the mask agreement stays put?

For the first --n test masks of a synthetic dataset (synth-bench protocol) and --refs-per-mask K
references each, every mask is sampled with the same seed under each reference. Slot 0 is the
mask's own reference (label_to_img.json; its ground truth is rendered in that style, as in the
contest); slots 1..K-1 are the references of other test masks (mask i, slot k: test reference
(i + k*(P//K)) mod P, P = the test masks loaded, min(n*K, all)). Configurations:
    ref on            s_mask, s_ref as given: ε(∅,∅) + s_m(ε(m,∅) − ε(∅,∅)) + s_r(ε(m,r) − ε(m,∅))
    ref off           no reference reaches the sampler: ε(∅,∅) + s_m(ε(m,∅) − ε(∅,∅)) with the null
                      reference (what s_ref = 0 gives), sampled once per mask, the same for every slot
    + color match     the pipeline's --color-match (Lab mean/std transfer from the reference,
                      lsgen.data.color.match_color) applied to the same samples
    ref on, strength s  (--ref-strengths) ref on, sampling started from the reference's latents
                      noised to level s (IIDM's img2img route, --ref-strength of sample.py; 1 = noise)
    ref on, shuffled strength s  (--shuffled-ref-strengths) the same from the reference's latents with
                      their positions shuffled (--ref-shuffle of sample.py): its colours, not its layout
    ref on, class-matched strength s  (--matched-ref-strengths) the shuffle within classes: each mask
                      region starts from the reference's latents of the same class (the reference's
                      label, which a contest reference, a training image, has; sample.py --ref-label)
    real              the ground-truth test image (ceiling; the same image for every slot)
    real through the VAE  decode(encode(ground truth)) with the pipeline's VAE: the colours any sampler
                      can reach through this VAE (the pipeline's ceiling)
    real restyled     (synthetic data only) slot k: the mask's ground-truth layout rendered by the
                      generator in the style of slot k's reference (slot 0 = the ground truth), JPEG
                      q95 as the dataset's images: how much the judge's accuracy moves with the style
                      alone, on perfect images (the control of slot dev)
Columns:
    corr contest ref  contest style correlation (colour-histogram Pearson, [-1, 1]) with slot 0's ref
    corr own ref      the same with the reference each output was made with, over all K slots
    score own ref     corr own ref mapped to the contest's style score in [0, 1]: (corr + 1) / 2
    corr other refs   ... with the mask's K-1 other references (a ref-following model: own >> other)
    mask acc          segmenter judge pixel accuracy against the mask, mean over masks and slots
    spread per mask   mean over masks of (max - min over the K slots) of the mask accuracy
    slot dev          max over slots k of |mean acc of slot k - mean acc|; target (issue 7): <= 0.01
    slot dev vs restyled  the same for acc - (real restyled acc): how far a reference moves the mask
                      agreement beyond what its style alone moves the judge (needs the restyled row)

Example (on the trained UNet of a run):
    python benchmarks/style_transfer.py --checkpoint runs/i6/unet/unet.safetensors \\
        --judge runs/segmenter-small/step0001600.safetensors --n 32 --refs-per-mask 4 --json out.json
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import sampling_common as sc  # noqa: E402
from evaluation.contest import score_from_correlation  # noqa: E402
from lsgen.cli import positive_int, run_cli  # noqa: E402

HEADER = ["config", "corr contest ref", "corr own ref", "score own ref", "corr other refs", "mask acc",
          "spread per mask", "slot dev", "within ±1%", "slot dev vs restyled"]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="\n".join(__doc__.splitlines()[2:]))
    parser.add_argument("--checkpoint", required=True, help="UNet checkpoint file or run directory")
    parser.add_argument("--judge", required=True, help=f"segmenter checkpoint (e.g. {sc.DEFAULT_JUDGE})")
    parser.add_argument("--n", type=positive_int, default=32, help="test masks (default: %(default)s)")
    parser.add_argument("--refs-per-mask", type=positive_int, default=4, help="K references per mask (default: 4)")
    parser.add_argument("--ref-strengths", type=float, nargs="*", default=[],
                        help="extra 'ref on' rows started from the reference noised to these levels in (0, 1)")
    parser.add_argument("--shuffled-ref-strengths", type=float, nargs="*", default=[],
                        help="the same from the reference's latents with their positions shuffled (--ref-shuffle)")
    parser.add_argument("--matched-ref-strengths", type=float, nargs="*", default=[],
                        help="the same shuffled within classes by the references' labels (--ref-shuffle --ref-label)")
    sc.add_common_args(parser)
    return parser.parse_args(argv)


def reference_slots(n: int, pool: int, k: int) -> np.ndarray:
    """(n, k) indices into the `pool` loaded test references: slot 0 is mask i's own (i), slot j is
    (i + j * (pool // k)) mod pool, distinct over j for pool >= k."""
    if k > pool:
        raise ValueError(f"--refs-per-mask {k} exceeds the {pool} test masks that provide references")
    stride = pool // k
    return (np.arange(n)[:, None] + np.arange(k)[None, :] * stride) % pool


def slot_scores(images: np.ndarray, refs: np.ndarray, masks: np.ndarray, judge, progress: bool) -> dict:
    """images (n, K, H, W, 3) made with refs (n, K, H, W, 3) for masks (n, H, W) -> per-image arrays
    (n, K): corr with the output's own reference, corr_other (mean over the K-1 other references of
    the mask; NaN for K = 1), acc (judge pixel accuracy)."""
    n, k = images.shape[:2]
    acc, _ = sc.judge_scores(judge, images.reshape(n * k, *images.shape[2:]), np.repeat(masks, k, axis=0), progress)
    # cross[i, s, j]: output of slot s of mask i against reference j of mask i
    cross = np.stack([np.stack([sc.style_correlations(images[:, s], refs[:, j]) for j in range(k)], axis=1)
                      for s in range(k)], axis=1)
    own = cross[:, np.arange(k), np.arange(k)]
    other = (cross.sum(-1) - own) / (k - 1) if k > 1 else np.full_like(own, np.nan)
    return {"corr": own, "corr_other": other, "acc": acc.reshape(n, k)}


def slot_deviation(acc: np.ndarray) -> float:
    """(n, K) accuracies -> max over slots of |mean of slot k - mean|."""
    return float(np.abs(acc.mean(0) - acc.mean()).max())


def summary(name: str, scores: dict, control_acc: np.ndarray | None = None) -> dict:
    """Per-configuration means and the spread of the mask accuracy across reference slots;
    control_acc (n, K): the restyled ground truth's accuracies (slot dev vs restyled)."""
    acc = scores["acc"]
    slot_dev = slot_deviation(acc)
    return {"config": name, "corr_contest_ref": float(scores["corr"][:, 0].mean()),
            "corr_own_ref": float(scores["corr"].mean()),
            "score_own_ref": float(score_from_correlation(scores["corr"]).mean()),
            "corr_other_refs": None if np.isnan(scores["corr_other"]).all() else float(scores["corr_other"].mean()),
            "mask_acc": float(acc.mean()), "spread_per_mask": float((acc.max(1) - acc.min(1)).mean()),
            "slot_dev": slot_dev, "within_1pct": bool(slot_dev <= 0.01),
            "slot_dev_vs_restyled": None if control_acc is None else slot_deviation(acc - control_acc)}


def restyled_ground_truth(root: Path, names: list[str], slots: np.ndarray, size: tuple[int, int]) -> np.ndarray | None:
    """(n, K, H, W, 3) uint8: test layout i (names[i] = "t<index>") rendered by the synthetic generator in
    the style of reference slots[i, k] (the train style of that test mask's reference), JPEG q95 as the
    dataset's images, so slot 0 reproduces the ground truth. None unless root is a synthetic dataset
    written at `size` (W, H)."""
    import io  # noqa: PLC0415
    import json  # noqa: PLC0415

    from PIL import Image  # noqa: PLC0415

    from lsgen.data.synthetic import GENERATOR, held_out_pair  # noqa: PLC0415

    meta_path = root / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    if meta.get("generator") != GENERATOR or tuple(meta.get("size", ())) != tuple(size):
        return None
    mapping = json.loads((root / "label_to_img.json").read_text())
    ref_train_index = [int(Path(mapping[f"{name}.png"]).stem) for name in names]
    width, height = size

    def render(i: int, k: int) -> np.ndarray:
        image = held_out_pair(meta["seed"], int(names[i][1:]), ref_train_index[slots[i, k]], height, width)[0]
        buffer = io.BytesIO()
        Image.fromarray(image, "RGB").save(buffer, format="JPEG", quality=95)
        return np.asarray(Image.open(buffer).convert("RGB"))

    return np.stack([np.stack([render(i, k) for k in range(slots.shape[1])]) for i in range(slots.shape[0])])


def color_matched(images: np.ndarray, refs: np.ndarray) -> np.ndarray:
    """The pipeline's --color-match post-process on (n, K, H, W, 3) images with their refs."""
    from lsgen.data.color import match_color  # noqa: PLC0415

    return np.stack([[match_color(im, ref) for im, ref in zip(row, ref_row)] for row, ref_row in zip(images, refs)])


def vae_round_trip(pipe, images: np.ndarray, batch_size: int) -> np.ndarray:
    """(N, H, W, 3) uint8 -> decode(mean(encode(x))) through the pipeline's VAE, (N, H, W, 3) uint8: the
    best colours a sampler can reach through this VAE (the pipeline's ceiling)."""
    from lsgen.data.io import from_model_image, to_model_image  # noqa: PLC0415
    from lsgen.runtime import jt  # noqa: PLC0415

    out = []
    for start in range(0, len(images), batch_size):
        x = jt.array(np.stack([to_model_image(im) for im in images[start:start + batch_size]]))
        with jt.no_grad():
            decoded = pipe.vae.decode(pipe.vae.encode(x).mean).numpy()
        out.extend(from_model_image(im) for im in decoded)
    return np.stack(out)


def sample_ref_on(pipe, masks: np.ndarray, refs: np.ndarray, options, batch_size: int, progress: bool,
                  label: str = "ref on") -> np.ndarray:
    """(n, K, H, W, 3) uint8: slot k sampled with refs[:, k]; the same seed for every slot."""
    return np.stack([sc.sample_masks(pipe, masks, refs[:, s], options, batch_size, progress, f"{label}, slot {s}")[0]
                     for s in range(refs.shape[1])], axis=1)


def sample_slots(pipe, masks: np.ndarray, refs: np.ndarray, options, batch_size: int,
                 progress: bool) -> tuple[np.ndarray, np.ndarray]:
    """(ref on, ref off) samples, each (n, K, H, W, 3) uint8; slot k of ref on used refs[:, k], ref
    off had no reference (one sampling, repeated over the slots). Same seed for every slot."""
    on = sample_ref_on(pipe, masks, refs, options, batch_size, progress)
    off, _ = sc.sample_masks(pipe, masks, None, options, batch_size, progress, "ref off")
    return on, np.repeat(off[:, None], refs.shape[1], axis=1)


def run(args: argparse.Namespace) -> dict:
    """Sample, score and summarise; returns {"protocol", "rows", "per_image"}."""
    from diffusion.pipeline import SampleOptions  # noqa: PLC0415 - imports Jittor
    from evaluation.judge import Judge  # noqa: PLC0415
    from evaluation.protocol import load_split  # noqa: PLC0415

    sc.check_files(args.checkpoint, args.judge, args.vae)
    all_strengths = args.ref_strengths + args.shuffled_ref_strengths + args.matched_ref_strengths
    if any(not 0.0 < s < 1.0 for s in all_strengths):
        raise ValueError(f"--ref-strengths, --shuffled-ref-strengths and --matched-ref-strengths must lie in (0, 1), "
                         f"got {all_strengths}")
    progress, start = not args.no_progress, time.perf_counter()
    pipe, size = sc.load_pipeline(args.checkpoint, args.vae, args.size, args.device)
    test = load_split(sc.protocol_data(args.data, size), "test", args.n * args.refs_per_mask, progress)
    if test.refs is None or test.images is None:
        raise ValueError(f"{args.data}: the test masks need references (label_to_img.json) and ground truth "
                         "(test/imgs)")
    n = min(args.n, len(test.names))
    slots = reference_slots(n, len(test.names), args.refs_per_mask)
    masks, refs = test.masks[:n], test.refs[slots]
    options = SampleOptions(sampler=args.sampler, steps=args.steps, guidance_mask=args.guidance_mask,
                            guidance_ref=args.guidance_ref, seed=args.seed)
    on, off = sample_slots(pipe, masks, refs, options, args.batch_size, progress)
    configs = {"ref on": on, "ref on + color match": color_matched(on, refs), "ref off": off,
               "ref off + color match": color_matched(off, refs)}
    strengths = [(s, False) for s in args.ref_strengths] + [(s, True) for s in args.shuffled_ref_strengths]
    for strength, shuffle in strengths:
        img2img = dataclasses.replace(options, ref_strength=strength, ref_shuffle=shuffle)
        label = f"ref on, {'shuffled ' if shuffle else ''}strength {strength:g}"
        configs[label] = sample_ref_on(pipe, masks, refs, img2img, args.batch_size, progress, label)
    if args.matched_ref_strengths and test.ref_masks is None:
        raise ValueError(f"{args.data}: --matched-ref-strengths needs the references' labels (train labels)")
    for strength in args.matched_ref_strengths:
        img2img = dataclasses.replace(options, ref_strength=strength, ref_shuffle=True)
        label = f"ref on, class-matched strength {strength:g}"
        configs[label] = np.stack([sc.sample_masks_ref_labels(pipe, masks, refs[:, s], test.ref_masks[slots[:, s]],
                                                              img2img, args.batch_size, progress, f"{label}, slot {s}")
                                   for s in range(args.refs_per_mask)], axis=1)
    configs["real (ground truth)"] = np.repeat(test.images[:n, None], args.refs_per_mask, axis=1)
    configs["real through the VAE"] = np.repeat(vae_round_trip(pipe, test.images[:n], args.batch_size)[:, None],
                                                args.refs_per_mask, axis=1)
    restyled = restyled_ground_truth(Path(args.data), test.names, slots, size)
    if restyled is not None:
        configs["real restyled"] = restyled
    judge = Judge(args.judge, batch_size=args.batch_size)
    scores = {name: slot_scores(images, refs, masks, judge, progress) for name, images in configs.items()}
    protocol = {"checkpoint": str(args.checkpoint), "data": str(args.data), "size": list(size), "masks": n,
                "mask_names": test.names[:n], "ref_slots": slots, "refs_per_mask": args.refs_per_mask,
                "sampler": args.sampler, "steps": args.steps,
                "guidance_mask": args.guidance_mask, "guidance_ref": args.guidance_ref, "seed": args.seed,
                "judge": str(args.judge), "judge_digest": judge.digest,
                "ref_route": pipe.unet.ref_encoder is not None, "seconds": time.perf_counter() - start}
    control = scores["real restyled"]["acc"] if "real restyled" in scores else None
    return {"protocol": protocol, "rows": [summary(name, s, control) for name, s in scores.items()], "per_image": scores}


def table_rows(rows: list[dict]) -> list[list]:
    def cell(value):
        return "n/a" if value is None else ("yes" if value else "no") if isinstance(value, bool) else value
    keys = ["config", "corr_contest_ref", "corr_own_ref", "score_own_ref", "corr_other_refs", "mask_acc", "spread_per_mask",
            "slot_dev", "within_1pct", "slot_dev_vs_restyled"]
    return [[cell(row[key]) for key in keys] for row in rows]


def main(argv=None) -> dict:
    args = parse_args(argv)
    result = run(args)
    p = result["protocol"]
    note = "" if p["ref_route"] else " — this UNet has NO reference route: ref on == ref off"
    sc.print_table(f"style transfer: {p['checkpoint']}, {p['masks']} test masks x {p['refs_per_mask']} refs, "
                   f"{p['sampler']} {p['steps']} steps, s_mask {p['guidance_mask']}, s_ref {p['guidance_ref']}, "
                   f"judge {Path(p['judge']).name}, {p['seconds']:.0f} s{note}", HEADER, table_rows(result["rows"]))
    sc.write_json(args.json, result)
    return result


if __name__ == "__main__":
    run_cli(main)
