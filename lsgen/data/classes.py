"""The 29 landscape classes of the Jittor AI Challenge (label ids 0..28) and a display palette."""
from __future__ import annotations

import numpy as np

CLASS_NAMES: tuple[str, ...] = (
    "mountain", "sky", "water", "sea", "rock", "tree", "earth", "hill", "river", "sand",
    "land", "building", "grass", "plant", "person", "boat", "waterfall", "wall", "pier", "path",
    "lake", "bridge", "field", "road", "railing", "fence", "ship", "house", "other",
)
NUM_CLASSES = len(CLASS_NAMES)
CLASS_ID = {name: i for i, name in enumerate(CLASS_NAMES)}

# Display colours (RGB uint8) for colourised masks and the paint palette; distinct, and loosely
# evocative of the class so a contact sheet reads at a glance.
PALETTE = np.array([
    (120, 100, 80), (110, 170, 240), (40, 110, 200), (20, 60, 160), (130, 130, 130),
    (30, 120, 40), (150, 110, 60), (140, 170, 80), (60, 150, 220), (230, 210, 150),
    (190, 150, 100), (200, 60, 60), (100, 210, 90), (60, 170, 120), (250, 120, 200),
    (240, 150, 30), (180, 230, 250), (160, 90, 90), (110, 70, 40), (210, 180, 120),
    (70, 130, 180), (170, 120, 170), (220, 220, 60), (90, 90, 90), (230, 230, 230),
    (200, 160, 60), (255, 80, 20), (220, 100, 140), (0, 0, 0),
], dtype=np.uint8)
assert PALETTE.shape == (NUM_CLASSES, 3)


def colorize(mask_ids: np.ndarray) -> np.ndarray:
    """Colourise a label map. mask_ids (H, W) int in 0..28 -> (H, W, 3) uint8 RGB."""
    return PALETTE[np.asarray(mask_ids)]
