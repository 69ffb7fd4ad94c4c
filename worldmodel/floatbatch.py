"""The float twin (worldmodel.model) behind BatchRef's interface, so the playtest can play a
model's float.pt in closed loop exactly as it plays the cartridge: `new_hidden(B)` and
`step(state, ctrl, hidden, context) -> (next state, head outputs, hidden)`, one frame for B
independent games. The float twin decodes like the cartridge (rounded to state units), so
the two differ only by quantization: what INT8 costs in closed loop is one comparison.
"""
from __future__ import annotations

import numpy as np
import torch

from .model import WorldModel, build_features, decode


class FloatRef:
    def __init__(self, model: WorldModel):
        self.model = model.eval()
        self.out_scale = model.fs.out_scale.numpy()

    def new_hidden(self, batch: int) -> np.ndarray:
        """-> (B, L, H, P, N) float32 (batch first, as BatchRef's, so games index it alike)."""
        return self.model.new_hidden(batch).permute(1, 0, 2, 3, 4).contiguous().numpy()

    @torch.no_grad()
    def step(self, state: np.ndarray, ctrl: np.ndarray, hidden: np.ndarray, context=None, draw=None):
        """state (B, 2, 16), ctrl (B, 2, 8), hidden (B, L, H, P, N), context (B, 3), draw (B, 2)
        (a sampled-hit model's draws, cartridge.hit_draw_array) ->
        next state (B, 2, 16) int16, head outputs in state units (B, out_dim), hidden."""
        fs = self.model.fs
        s = torch.from_numpy(np.asarray(state, np.int64))[:, None]  # (B, 1, 2, 16)
        c = torch.from_numpy(np.asarray(ctrl, np.int64))[:, None]
        cx = None if context is None else torch.from_numpy(np.asarray(context, np.int64))
        h = torch.from_numpy(np.ascontiguousarray(hidden)).permute(1, 0, 2, 3, 4)
        out, h = self.model(build_features(fs, s, c, cx), h)
        dr = None if draw is None else torch.from_numpy(np.asarray(draw, np.int64))[:, None]
        nxt = decode(fs, s, out, dr)[:, 0].numpy().astype(np.int16)
        units = out[:, 0].numpy() * self.out_scale
        return nxt, units, h.permute(1, 0, 2, 3, 4).contiguous().numpy()
