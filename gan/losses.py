"""GAN objectives shared by every GAN of the project.

Discriminator outputs are lists (one entry per scale) of lists of feature maps whose last entry is
the logit map (see gan.discriminators). Every adversarial loss averages over scales, as pix2pixHD
and SPADE do. Three objectives, each with its discriminator and generator side:
    hinge  (Lim & Ye 2017; SPADE): L_D = E[relu(1 - D(x))] + E[relu(1 + D(G(z)))],  L_G = -E[D(G(z))]
    ns     (Goodfellow et al. 2014, non-saturating): L_D = softplus(-D(x)) + softplus(D(G(z))),
           L_G = softplus(-D(G(z)))   (= BCE-with-logits of pix2pix)
    ls     (Mao et al. 2017, LSGAN eq. 2): L_D = ½(D(x) - 1)² + ½ D(G(z))²,  L_G = ½(D(G(z)) - 1)²
"""
from __future__ import annotations

from lsgen.runtime import jt

nn = jt.nn
GAN_LOSSES = ("hinge", "ns", "ls")


def _check(kind: str) -> None:
    if kind not in GAN_LOSSES:
        raise ValueError(f"gan loss must be one of {GAN_LOSSES}, got {kind!r}")


def _softplus(x):
    """log(1 + e^x), stable for large |x|."""
    return x.maximum(0.0) + jt.log(1.0 + jt.exp(-x.abs()))


def d_loss_logits(kind: str, real, fake):
    """Discriminator loss of one logit map pair (real, fake), each (B,1,h,w) -> scalar."""
    _check(kind)
    if kind == "hinge":
        return nn.relu(1.0 - real).mean() + nn.relu(1.0 + fake).mean()
    if kind == "ns":
        return _softplus(-real).mean() + _softplus(fake).mean()
    return 0.5 * ((real - 1.0).sqr().mean() + fake.sqr().mean())


def g_loss_logits(kind: str, fake):
    """Generator loss of one fake logit map (B,1,h,w) -> scalar."""
    _check(kind)
    if kind == "hinge":
        return -fake.mean()
    if kind == "ns":
        return _softplus(-fake).mean()
    return 0.5 * (fake - 1.0).sqr().mean()


def discriminator_loss(kind: str, real_outs: list, fake_outs: list):
    """Mean over scales of d_loss_logits on the last feature (the logits) of each scale."""
    terms = [d_loss_logits(kind, r[-1], f[-1]) for r, f in zip(real_outs, fake_outs)]
    return sum(terms[1:], terms[0]) / len(terms)


def generator_adv_loss(kind: str, fake_outs: list):
    """Mean over scales of g_loss_logits."""
    terms = [g_loss_logits(kind, f[-1]) for f in fake_outs]
    return sum(terms[1:], terms[0]) / len(terms)


def feature_matching_loss(real_outs: list, fake_outs: list):
    """pix2pixHD eq. 4 (Wang et al. 2018): L1 between D's intermediate features (all but the
    logits) of real and fake, summed over layers, averaged over scales; real features detached."""
    total = None
    for real_feats, fake_feats in zip(real_outs, fake_outs):
        for r, f in zip(real_feats[:-1], fake_feats[:-1]):
            term = (f - r.detach()).abs().mean()
            total = term if total is None else total + term
    return total / len(real_outs)


def kld_loss(mu, logvar):
    """KL(N(mu, e^logvar) || N(0, I)) summed over the code, averaged over the batch (VAE, Kingma &
    Welling 2014, app. B); mu, logvar (B, z_dim). SPADE weights it by 0.05."""
    return (-0.5 * (1 + logvar - mu.sqr() - logvar.exp()).sum(dim=1)).mean()


def l1_loss(a, b):
    """Mean absolute error."""
    return (a - b).abs().mean()
