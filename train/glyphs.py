"""The demo dataset: a glyph mask (content: the character, shaped by a font) composited with a random
style (background colour and gradient, glyph colour and texture), in pixel space, packed into FLUX tokens.
Everything is drawn from a torch.Generator, so a seed reproduces a batch exactly on the same device."""
import torch

GRID_STRIDE = 2  # FLUX packs 2x2 pixels (or latent cells) into one token


def hsv_to_rgb(h, s, v):
    """h, s, v in [0, 1], any shape; returns [..., 3]."""
    i = torch.floor(h * 6)
    f = h * 6 - i
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    i = i.long() % 6
    r = torch.stack([v, q, p, p, t, v], -1).gather(-1, i[..., None])[..., 0]
    g = torch.stack([t, v, v, q, p, p], -1).gather(-1, i[..., None])[..., 0]
    b = torch.stack([p, p, t, v, v, q], -1).gather(-1, i[..., None])[..., 0]
    return torch.stack([r, g, b], -1)


def sample_styles(n, gen, device):
    """Style parameters per image, as a dict of tensors (kept for the reference set's metadata)."""
    u = lambda *shape: torch.rand(*shape, generator=gen, device=device)
    bg_v = 0.05 + 0.9 * u(n)
    delta = 0.35 + 0.35 * u(n)
    up = (bg_v + delta <= 1.0) & ((bg_v - delta < 0.0) | (u(n) < 0.5))
    fg_v = torch.where(up, bg_v + delta, bg_v - delta).clamp(0, 1)
    fg_h = u(n)
    return {
        "bg": hsv_to_rgb(u(n), u(n), bg_v),
        "bg2": hsv_to_rgb(u(n), u(n), (bg_v + 0.3 * (u(n) - 0.5)).clamp(0, 1)),
        "bg_gradient": torch.randint(0, 3, (n,), generator=gen, device=device),   # none, vertical, horizontal
        "fg": hsv_to_rgb(fg_h, 0.2 + 0.8 * u(n), fg_v),
        "fg2": hsv_to_rgb((fg_h + 0.2 + 0.3 * u(n)) % 1.0, 0.2 + 0.8 * u(n), fg_v),
        "fg_texture": torch.randint(0, 5, (n,), generator=gen, device=device),    # solid, h-stripes, v-stripes, diagonal, checker
        "fg_period": 4 + 2 * torch.randint(0, 3, (n,), generator=gen, device=device),
    }


def composite(masks, style):
    """masks [n, S, S] in [0, 1] -> images [n, 3, S, S] in [-1, 1]."""
    n, size, _ = masks.shape
    dev = masks.device
    ys = torch.arange(size, device=dev).view(1, size, 1).expand(n, size, size)
    xs = torch.arange(size, device=dev).view(1, 1, size).expand(n, size, size)
    ramp = torch.zeros(n, size, size, device=dev)
    g = style["bg_gradient"].view(n, 1, 1)
    ramp = torch.where(g == 1, ys / (size - 1), ramp)
    ramp = torch.where(g == 2, xs / (size - 1), ramp)
    bg = style["bg"].view(n, 3, 1, 1) * (1 - ramp[:, None]) + style["bg2"].view(n, 3, 1, 1) * ramp[:, None]
    half = (style["fg_period"] // 2).view(n, 1, 1)
    tex = style["fg_texture"].view(n, 1, 1)
    pattern = torch.zeros(n, size, size, dtype=torch.long, device=dev)
    pattern = torch.where(tex == 1, (ys // half) % 2, pattern)
    pattern = torch.where(tex == 2, (xs // half) % 2, pattern)
    pattern = torch.where(tex == 3, ((xs + ys) // half) % 2, pattern)
    pattern = torch.where(tex == 4, (xs // half + ys // half) % 2, pattern)
    p = pattern[:, None].float()
    fg = style["fg"].view(n, 3, 1, 1) * (1 - p) + style["fg2"].view(n, 3, 1, 1) * p
    m = masks[:, None]
    return (bg * (1 - m) + fg * m) * 2 - 1


def pack(images):
    """[n, C, H, W] -> FLUX tokens [n, (H/2)(W/2), C*4], channel order (c, ph, pw) as in FLUX's rearrange."""
    n, c, h, w = images.shape
    s = GRID_STRIDE
    return images.reshape(n, c, h // s, s, w // s, s).permute(0, 2, 4, 1, 3, 5).reshape(n, (h // s) * (w // s), c * s * s)


def unpack(tokens, h, w, c=3):
    n = tokens.shape[0]
    s = GRID_STRIDE
    return tokens.reshape(n, h // s, w // s, c, s, s).permute(0, 3, 1, 4, 2, 5).reshape(n, c, h, w)


def image_ids(h, w, device):
    """(0, row, col) per token of the (h/2) x (w/2) grid."""
    gh, gw = h // GRID_STRIDE, w // GRID_STRIDE
    ids = torch.zeros(gh, gw, 3, device=device)
    ids[..., 1] = torch.arange(gh, device=device)[:, None]
    ids[..., 2] = torch.arange(gw, device=device)[None, :]
    return ids.reshape(1, gh * gw, 3)
