"""Train the float world model on a folder of Slippi replays.

    python -m worldmodel.train --preset micro --replays DIR [--minutes M] [--out DIR]

Batches are `--batch` streams, each walking one game window by window and carrying the
Mamba hidden state between windows (detached), so the model learns the long-running
hidden state the game produces; a stream that reaches the end of its game restarts in a
random game at a random frame with a zero state. Scheduled rollouts: on a growing share of
steps the window is re-run with the model's own (decoded, integer) predictions as the
state input, 1-3 passes deep, and that pass is trained to land on the true next state.

Fine-tuning: --init CKPT starts from a trained model's weights; --qat trains through the
cartridge's rounding (model.fake_quant, the scales recalibrated every --qat-every steps), so
the INT8 program, not only the float model, holds up in closed loop; --exact-weight adds the
term that keeps outputs within a quarter state unit of the target (model.EXACT_MARGIN);
--event-weight weighs up the frames where something happens (model.event_frames).

Writes to --out: ckpt.pt (resumable: rerun the same command), history.json, loss.png.
The time budget --minutes counts training time over all resumed runs.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch

from . import cartridge as C
from . import dataset as ds
from .model import WorldModel, build_features, decode, event_frames, loss_terms


CONTEXTS = {"none": 0, "onehot": C.CONTEXT_ONEHOT, "relative": C.CONTEXT_RELATIVE,
            "onehot+relative": C.CONTEXT_ONEHOT | C.CONTEXT_RELATIVE,
            "onehot+hit": C.CONTEXT_ONEHOT | C.CONTEXT_SAMPLED_HIT,
            "onehot+relative+hit": C.CONTEXT_ONEHOT | C.CONTEXT_RELATIVE | C.CONTEXT_SAMPLED_HIT}


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="micro", choices=sorted(C.PRESETS))
    ap.add_argument("--replays", required=True)
    ap.add_argument("--out", default="build/train/micro")
    ap.add_argument("--cache", default="build/cache/replays")
    ap.add_argument("--minutes", type=float, default=60.0, help="training time budget")
    ap.add_argument("--max-steps", type=int, default=None,
                    help="stop after this many steps; the schedules then follow steps, not time")
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seq", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--rollout-max", type=float, default=0.5, help="final share of rollout steps")
    ap.add_argument("--rollout-depth", type=int, default=3,
                    help="rollout passes are 1..this many deep (deeper = trained on longer own-prediction chains)")
    ap.add_argument("--rollout-ramp", type=float, default=0.5,
                    help="share of training over which the rollout share grows to --rollout-max "
                         "(0: at it from the first step, for a fine-tune)")
    ap.add_argument("--rollout-noise", type=float, default=0.0,
                    help="perturb the trained rollout pass's input states (train.NOISE_SD units)")
    ap.add_argument("--exact-weight", type=float, default=0.0,
                    help="weight of the exact term (model.EXACT_MARGIN): outputs within a quarter "
                         "state unit of the target, so a fighter at rest rounds to rest")
    ap.add_argument("--event-weight", type=float, default=0.0,
                    help="frames where a fighter lands or takes off, is hit or changes action "
                         "(model.event_frames) weigh 1 + this in every loss term (0: all frames alike)")
    ap.add_argument("--flip-weight", type=float, default=0.0,
                    help="a fighter's facing term weighs 1 + this on the frames it turns (model.loss_terms' flip)")
    ap.add_argument("--land-weight", type=float, default=0.0,
                    help="a fighter's y terms weigh 1 + this on the frames it lands (model.loss_terms' land)")
    ap.add_argument("--focus", default="",
                    help="action categories (dataset.ACTION_CATEGORIES, comma-separated) to show more often: "
                         "each window a stream jumps with probability --focus-share to a window holding one")
    ap.add_argument("--focus-share", type=float, default=0.1)
    ap.add_argument("--context", choices=tuple(CONTEXTS), default="none",
                    help="feed the model each game's stage and characters (onehot: cartridge.CONTEXT_ONEHOT), "
                         "the fighters' distance and height above the ground (relative: CONTEXT_RELATIVE), or both")
    ap.add_argument("--init", default=None,
                    help="start from this float checkpoint's weights (a ckpt.pt or a cartridge's float.pt; "
                         "fresh optimiser and schedules) instead of at random")
    ap.add_argument("--qat", action="store_true",
                    help="quantization-aware: the forward pass rounds to the cartridge's INT8 grids "
                         "(calibrated as quantize --percentile 99.99 --channel-scales)")
    ap.add_argument("--qat-every", type=int, default=500, help="steps between recalibrations under --qat")
    ap.add_argument("--val-fraction", type=float, default=0.05)
    ap.add_argument("--limit-games", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ckpt-every", type=float, default=120.0, help="seconds between checkpoints")
    ap.add_argument("--no-progress", action="store_true")
    return ap.parse_args(argv)


class Corpus:
    """All training games concatenated, with per-game offsets."""

    def __init__(self, games: list[ds.Game]):
        self.lengths = np.array([len(g) for g in games], dtype=np.int64)
        self.offsets = np.concatenate([[0], np.cumsum(self.lengths)[:-1]])
        self.state = np.concatenate([g.state for g in games])
        self.ctrl = np.concatenate([g.ctrl for g in games])
        self.has_vel = np.array([g.has_vel for g in games])
        self.context = np.stack([g.context() for g in games]) if games else np.zeros((0, 3), np.int64)
        self.frames = int(self.lengths.sum())


def focus_frames(corpus: Corpus, actions: list[int]) -> np.ndarray:
    """Corpus frame indices where either fighter is in one of these action categories
    (train --focus: the transitions a closed-loop player meets that the replays seldom show)."""
    act = corpus.state[:, :, C.FIELDS.index("action")]
    return np.flatnonzero(np.isin(act, actions).any(axis=1))


class Streams:
    """`batch` cursors (game, frame) that walk games window by window. With `focus` (corpus
    frame indices) each window a stream jumps, with probability `focus_share`, to a window
    holding one of those frames (a fresh hidden state: it counts as a restart)."""

    def __init__(self, corpus: Corpus, batch: int, seq: int, rng: np.random.Generator,
                 focus: np.ndarray | None = None, focus_share: float = 0.0):
        self.c, self.seq, self.rng = corpus, seq, rng
        self.focus = None if focus is None or not len(focus) or focus_share <= 0 else np.asarray(focus, np.int64)
        self.focus_share = focus_share
        ok = corpus.lengths > seq + 1
        self.weights = np.where(ok, corpus.lengths, 0).astype(np.float64)
        self.weights /= self.weights.sum()
        self.game = np.zeros(batch, dtype=np.int64)
        self.pos = np.zeros(batch, dtype=np.int64)
        for b in range(batch):
            self._restart(b)

    def _restart(self, b: int) -> None:
        g = int(self.rng.choice(len(self.weights), p=self.weights))
        self.game[b] = g
        self.pos[b] = int(self.rng.integers(0, self.c.lengths[g] - self.seq - 1))

    def _jump_to_focus(self, b: int) -> None:
        f = int(self.focus[self.rng.integers(len(self.focus))])
        g = int(np.searchsorted(self.c.offsets, f, side="right") - 1)
        last = int(self.c.lengths[g]) - self.seq - 1
        if last < 0:  # a game shorter than a window: an ordinary restart
            self._restart(b)
            return
        # the focus frame anywhere in the window's second half: frames before it to warm up on
        pos = f - int(self.c.offsets[g]) - int(self.rng.integers(self.seq // 2, self.seq))
        self.game[b], self.pos[b] = g, min(max(pos, 0), last)

    def next(self):
        """-> state (b, seq+1, 2, 16), ctrl (b, seq+1, 2, 8), has_vel (b,), restarted (b,),
        context (b, 3) (each stream's game: stage, characters)."""
        restarted = np.zeros(len(self.game), dtype=bool)
        for b in range(len(self.game)):
            if self.focus is not None and self.rng.random() < self.focus_share:
                self._jump_to_focus(b)
                restarted[b] = True
            elif self.pos[b] + self.seq + 1 > self.c.lengths[self.game[b]]:
                self._restart(b)
                restarted[b] = True
        idx = (self.c.offsets[self.game] + self.pos)[:, None] + np.arange(self.seq + 1)
        self.pos += self.seq  # the next window starts at this window's last frame
        return (self.c.state[idx], self.c.ctrl[idx], self.c.has_vel[self.game], restarted,
                self.c.context[self.game])


# Continuous fields perturbed by --rollout-noise, and the noise's standard deviation at 1.0
# in state units: 1 game unit for positions, 1/8 unit/frame for velocities.
NOISE_SD = {"x": 16.0, "y": 16.0, "self_vx": 32.0, "self_vy": 32.0, "kb_vx": 32.0, "kb_vy": 32.0}


def perturb(state: torch.Tensor, noise: float) -> torch.Tensor:
    """state (..., 2, 16) int64 + rounded Gaussian noise on the continuous fields, so the
    model learns to steer back to the true next state from a slightly wrong one (what the
    INT8 cartridge hands it in a long rollout) instead of drifting on."""
    if noise <= 0:
        return state
    out = state.clone()
    for name, sd in NOISE_SD.items():
        f = C.FIELDS.index(name)
        out[..., f] = torch.clamp(out[..., f] + torch.round(torch.randn(out[..., f].shape, device=out.device) * sd * noise).long(),
                                  -32768, 32767)
    return out


def random_draw(base: torch.Tensor) -> torch.Tensor:
    """Hit draws for a rollout pass (b, l, 2): a sampled-hit model's own predictions are fed
    back with hits drawn at its odds, as the program draws them (cartridge.hit_draw)."""
    return torch.randint(0, 1 << 16, (*base.shape[:-2], 2), device=base.device)


def rollout_loss(model: WorldModel, s: torch.Tensor, ctl: torch.Tensor, hid: torch.Tensor,
                 first_pred: torch.Tensor, has_vel: torch.Tensor, depth: int, noise: float = 0.0,
                 cx: torch.Tensor | None = None, exact: float = 0.0, weight: torch.Tensor | None = None,
                 flip: float = 0.0, land: float = 0.0):
    """Re-run the window with predicted states as inputs, `depth` passes deep; the inputs
    of the trained (last) pass are perturbed by `noise` (see perturb). `weight` (b, l) weighs
    the frames as in loss_terms (set from the true states: what happened, not what was predicted);
    `flip` and `land` are loss_terms' own, judged against the state fed (here the model's own), so
    they weigh up as well the frames on which it must correct a facing or a height it got wrong."""
    fs = model.fs
    pred = first_pred
    for k in range(depth):
        base = torch.cat([s[:, :1], pred[:, :-1]], dim=1)
        if k == depth - 1:
            base = perturb(base, noise)
        if k < depth - 1:
            with torch.no_grad():
                out, _ = model(build_features(fs, base, ctl, cx), hid)
                pred = decode(fs, base, out, random_draw(base))
        else:
            out, _ = model(build_features(fs, base, ctl, cx), hid)
    return loss_terms(fs, out, base, s[:, 1:], has_vel, exact, weight, flip, land)


@torch.no_grad()
def validation_loss(model: WorldModel, corpus: Corpus, seq: int, windows: int = 32) -> float:
    """Teacher-forced one-step loss on fixed held-out windows (zero initial state)."""
    rng = np.random.default_rng(1234)
    ok = np.flatnonzero(corpus.lengths > seq + 1)
    g = ok[rng.integers(0, len(ok), windows)]
    pos = np.array([rng.integers(0, corpus.lengths[i] - seq - 1) for i in g])
    idx = (corpus.offsets[g] + pos)[:, None] + np.arange(seq + 1)
    dev = next(model.parameters()).device
    s = torch.from_numpy(corpus.state[idx].astype(np.int64)).to(dev)
    ctl = torch.from_numpy(corpus.ctrl[idx].astype(np.int64)).to(dev)
    cx = torch.from_numpy(corpus.context[g]).to(dev)
    model.eval()
    out, _ = model(build_features(model.fs, s[:, :-1], ctl[:, 1:], cx), model.new_hidden(windows, dev))
    model.train()
    terms = loss_terms(model.fs, out, s[:, :-1], s[:, 1:], torch.from_numpy(corpus.has_vel[g]).to(dev))
    return float(sum(terms.values()))


def plot_history(history: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not history:
        return
    fig, ax = plt.subplots(figsize=(8, 4.5))
    steps = [h["step"] for h in history]
    ax.plot(steps, [h["loss_tf"] for h in history], label="train, teacher-forced", lw=1)
    roll = [(h["step"], h["loss_roll"]) for h in history if h.get("loss_roll") is not None]
    if roll:
        ax.plot(*zip(*roll), ".", ms=2, alpha=0.5, label="train, rollout passes")
    val = [(h["step"], h["val"]) for h in history if h.get("val") is not None]
    if val:
        ax.plot(*zip(*val), "o-", label="held-out, teacher-forced")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def train_step(model: WorldModel, opt: torch.optim.Optimizer, batch, hid: torch.Tensor, frac: float, args,
               rng: np.random.Generator, dev: torch.device):
    """One optimiser step on one window of every stream (Streams.next's `batch`): the
    teacher-forced loss, plus on a share of steps that grows with `frac` (the fraction of
    training done) a rollout pass on the model's own predictions. -> (loss_tf, loss_roll or
    None, the loss terms, the hidden state to carry into the next window)."""
    s_np, c_np, hv_np, restarted, cx_np = batch
    s = torch.from_numpy(s_np.astype(np.int64)).to(dev)  # (b, seq + 1, 2, 16)
    cx = torch.from_numpy(cx_np).to(dev)  # (b, 3)
    ctl = torch.from_numpy(c_np[:, 1:].astype(np.int64)).to(dev)  # (b, seq, 2, 8)
    has_vel = torch.from_numpy(hv_np).to(dev)
    if restarted.any():
        hid[:, torch.from_numpy(restarted).to(dev)] = 0
    base = s[:, :-1]
    out, hid_new = model(build_features(model.fs, base, ctl, cx), hid)
    exact = getattr(args, "exact_weight", 0.0)
    ew = getattr(args, "event_weight", 0.0)
    weight = 1.0 + ew * event_frames(base, s[:, 1:]).float() if ew > 0 else None  # (b, seq)
    flip, land = getattr(args, "flip_weight", 0.0), getattr(args, "land_weight", 0.0)
    terms = loss_terms(model.fs, out, base, s[:, 1:], has_vel, exact, weight, flip, land)
    loss_tf = sum(terms.values())
    loss, loss_roll = loss_tf, None
    if rng.random() < args.rollout_max * (min(1.0, frac / args.rollout_ramp) if args.rollout_ramp > 0 else 1.0):
        depth = int(rng.integers(1, args.rollout_depth + 1))
        rterms = rollout_loss(model, s, ctl, hid, decode(model.fs, base, out.detach(), random_draw(base)), has_vel, depth,
                              args.rollout_noise, cx, exact, weight, flip, land)
        loss_roll = sum(rterms.values())
        loss = loss_tf + loss_roll
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return loss_tf, loss_roll, terms, hid_new.detach()


def lr_at(frac: float, base: float, step: int, warmup: int = 200) -> float:
    """Linear warm-up, then cosine decay to 10% over the time budget."""
    w = min(1.0, (step + 1) / warmup)
    return base * w * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def train(args) -> Path:
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    games = ds.load_folder(args.replays, args.cache, limit=args.limit_games, progress=not args.no_progress)
    if len(games) < 2:
        raise SystemExit(f"need at least 2 readable games in {args.replays}, found {len(games)}")
    train_games, val_games = ds.split_games(games, args.val_fraction, args.seed)
    corpus, val_corpus = Corpus(train_games), Corpus(val_games)
    print(f"games: {len(train_games)} train ({corpus.frames} frames), {len(val_games)} held out "
          f"({val_corpus.frames} frames)", flush=True)

    dev = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                       else "cpu" if args.device == "auto" else args.device)
    context = CONTEXTS[args.context]
    model = WorldModel(args.preset, context=context).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    ckpt_path = out_dir / "ckpt.pt"
    step, elapsed, history = 0, 0.0, []
    if args.init and not ckpt_path.exists():
        init_weights(model, args.init)
        print(f"initialised from {args.init}", flush=True)
    if ckpt_path.exists():
        ck = torch.load(ckpt_path, weights_only=False, map_location=dev)
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        step, elapsed, history = ck["step"], ck["elapsed"], ck["history"]
        print(f"resumed from {ckpt_path} at step {step} ({elapsed / 60:.1f} min trained)", flush=True)

    rng = np.random.default_rng(args.seed + step)
    torch.manual_seed(args.seed + step)
    focus = None
    if args.focus:
        names = [a.strip() for a in args.focus.split(",") if a.strip()]
        unknown = [a for a in names if a not in ds.CAT]
        if unknown:
            raise SystemExit(f"--focus: unknown action categories {unknown} (known: {', '.join(ds.ACTION_CATEGORIES)})")
        focus = focus_frames(corpus, [ds.CAT[a] for a in names])
        print(f"focus: {len(focus)} frames in {', '.join(names)} ({100 * len(focus) / max(corpus.frames, 1):.1f} %), "
              f"{100 * args.focus_share:.0f} % of windows jump to one", flush=True)
    streams = Streams(corpus, args.batch, args.seq, rng, focus, args.focus_share)
    hid = model.new_hidden(args.batch, dev)
    budget = args.minutes * 60.0
    frames_per_step = args.batch * args.seq
    warmup = min(200, max(1, args.max_steps // 10)) if args.max_steps else 200

    def save():
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step,
                    "elapsed": elapsed, "history": history, "preset": args.preset,
                    "fields": [list(dataclasses_astuple(f)) for f in model.fs.fields],
                    "context": model.fs.context, "seed": args.seed, "val_fraction": args.val_fraction}, tmp)
        tmp.replace(ckpt_path)
        (out_dir / "history.json").write_text(json.dumps(history))
        plot_history(history, out_dir / "loss.png")

    calib = qat_windows(train_games) if args.qat else None
    if calib is not None:
        recalibrate(model, calib)

    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=int(budget), initial=int(min(elapsed, budget)), unit="s", desc="train")
    last_ckpt = time.monotonic()
    while elapsed < budget and (args.max_steps is None or step < args.max_steps):
        t0 = time.monotonic()
        frac = step / args.max_steps if args.max_steps else elapsed / budget
        for g in opt.param_groups:
            g["lr"] = lr_at(frac, args.lr, step, warmup)
        loss_tf, loss_roll, terms, hid = train_step(model, opt, streams.next(), hid, frac, args, rng, dev)
        step += 1
        if calib is not None and step % args.qat_every == 0:
            recalibrate(model, calib)
        dt = time.monotonic() - t0
        elapsed += dt
        rec = {"step": step, "elapsed": round(elapsed, 2), "loss_tf": float(loss_tf.detach()),
               "loss_roll": None if loss_roll is None else float(loss_roll.detach()),
               "fps": round(frames_per_step / dt, 1),
               "terms": {k: round(float(v.detach()), 5) for k, v in terms.items()}}
        if step % 200 == 0:
            rec["val"] = validation_loss(model, val_corpus, args.seq)
        history.append(rec)
        if bar is not None:
            bar.update(int(elapsed) - bar.n)
            bar.set_postfix(step=step, loss=f"{float(loss_tf):.3f}", fps=f"{rec['fps']:.0f}")
        if time.monotonic() - last_ckpt > args.ckpt_every:
            save()
            last_ckpt = time.monotonic()
    if bar is not None:
        bar.close()
    history[-1]["val"] = validation_loss(model, val_corpus, args.seq) if history else None
    model.set_fake_quant(None)  # the checkpoint holds plain float weights; quantize rounds them
    save()
    fps = [h["fps"] for h in history[-200:]]
    print(f"done: {step} steps, {elapsed / 60:.1f} min, {np.mean(fps) if fps else 0:.0f} frames/s "
          f"(last 200 steps), val loss {history[-1]['val']:.4f}" if history else "done: no steps",
          flush=True)
    return ckpt_path


def dataclasses_astuple(f: C.FieldSpec) -> tuple:
    return (f.enc_kind, f.enc_arg, f.dec_kind, f.dec_arg)


def init_weights(model: WorldModel, path: str | Path) -> None:
    """Copy a checkpoint's weights into a fresh model of the same preset, fields and context, or
    of a context that adds CONTEXT_RELATIVE and/or CONTEXT_SAMPLED_HIT to the checkpoint's: the
    relative features come last, so the encoder's columns for them start at 0 and the model
    begins as the checkpoint's function; the hit branch's head rows start at 0, its logit's bias
    at the replays' hit rate (HIT_PRIOR), so it begins drawing about as many hits as they have."""
    ck = torch.load(path, weights_only=False, map_location="cpu")

    def weights_shape(fs):  # a delta field's dead band (quantize --dead-band) only decodes: ignore it
        return [[e, a, d, 0 if d == C.DEC_DELTA else g] for e, a, d, g in fs]
    fields = weights_shape(dataclasses_astuple(f) for f in model.fs.fields)
    old_context = ck.get("context", 0)
    added = model.fs.context & ~old_context
    grows = not (old_context & ~model.fs.context) and not (added & ~(C.CONTEXT_RELATIVE | C.CONTEXT_SAMPLED_HIT))
    if ck["preset"] != model.p.name or weights_shape(ck["fields"]) != fields \
            or (old_context != model.fs.context and not grows):
        raise SystemExit(f"--init {path}: preset {ck['preset']}, context {old_context} "
                         f"do not match this run's {model.p.name}, {model.fs.context} (or its fields differ)")
    state = dict(ck["model"])
    w = state["encoder.weight"]
    if w.shape != model.encoder.weight.shape:  # new relative columns after the old features
        n_old = C.features_for(model.fs.fields, old_context)  # the rest of the old columns were padding (always 0)
        grown = torch.zeros_like(model.encoder.weight)
        grown[:, :n_old] = w[:, :n_old]
        state["encoder.weight"] = grown
    if state["head.weight"].shape != model.head.weight.shape:  # the hit branch after the field outputs
        n_old = state["head.weight"].shape[0]
        w, b = torch.zeros_like(model.head.weight), torch.zeros_like(model.head.bias)
        w[:n_old], b[:n_old] = state["head.weight"], state["head.bias"]
        for p in range(2):
            b[model.fs.hit_slot(p)] = math.log(HIT_PRIOR / (1 - HIT_PRIOR))
        state["head.weight"], state["head.bias"] = w, b
    model.load_state_dict(state)


HIT_PRIOR = 0.005  # the replays' share of fighter-frames that are hits (data_stats: 0.49 %)


# Quantization-aware training calibrates like the shipped cartridges' quantize command.
QAT_PERCENTILE, QAT_CHANNEL_SCALES = 99.99, True


def qat_windows(games):
    from .quantize import calibration_context, calibration_windows

    state, ctrl = calibration_windows(games)
    return state, ctrl, calibration_context(games)


def recalibrate(model: WorldModel, calib) -> None:
    """Re-measure the activation scales on the plain float model (as quantize does) and
    round the forward pass to them from here on."""
    from .quantize import activation_scales, calibrate

    model.set_fake_quant(None)
    dev = next(model.parameters()).device
    model.cpu()
    state, ctrl, context = calib
    stats = calibrate(model, state, ctrl, QAT_PERCENTILE, context)
    model.to(dev)
    model.set_fake_quant(activation_scales(stats, QAT_CHANNEL_SCALES))


def load_checkpoint(path: str | Path) -> WorldModel:
    ck = torch.load(path, weights_only=False, map_location="cpu")
    fields = tuple(C.FieldSpec(*f) for f in ck["fields"])
    model = WorldModel(ck["preset"], fields, context=ck.get("context", 0))
    model.load_state_dict(ck["model"])
    model.fs.hit_floor = ck.get("hit_floor", 0)  # a cartridge's float twin draws as the cartridge
    model.eval()
    return model


def main(argv=None) -> None:
    train(parse_args(argv))


if __name__ == "__main__":
    main()
