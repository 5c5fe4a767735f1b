"""Turn a :class:`~eventpipe.datasets.slanimals.synth.design.RecordingDesign` into DVS events.

Moving edges: an edge of contrast ``c`` whose point moves with velocity ``v`` across its normal
``n`` emits events as a Poisson process of intensity ``gain * c * |v . n|`` per px of edge
(``gain`` ~ events per px of edge per px moved). ON where the brightness rises (a bright hand's
leading edge), OFF where it falls. We sample that process exactly by *thinning*: candidates are
drawn uniformly over (time, edge length) at a bound ``W`` on the speed, and each is kept with
probability ``|v . n| / W``. The bound is the largest vertex speed (rigid motion:
speed is convex in position), per 0.5 ms step of a pose grid. Everything is vectorised numpy;
the cost is proportional to the number of events.

Sensor noise: uniform background activity (per-pixel rate), a few hot pixels, and for S3 the
100 Hz flicker of neon light (bursts of ON then OFF events on a fixed set of lit pixels, every
5 ms). S4 (frontal sunlight) has several times the background activity and hot pixels, and
stronger edges. S1's higher lens angle is a keystone warp of the scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eventpipe.datasets.slanimals.synth.design import GestureDesign, RecordingDesign, stream
from eventpipe.datasets.slanimals.synth.gestures import BODY, FOREARM, HAND, SIGNS, TAU, Part
from eventpipe.events import EVENT_DTYPE

SENSOR = 128


@dataclass(frozen=True)
class Scale:
    """Event-rate settings of one scale (shapes and timing do not depend on it).

    Attributes:
        name: ``tiny`` | ``small`` | ``full``.
        edge_gain: events per px of edge per px moved, for contrast 1.
        background_hz: background activity per pixel (Hz), S1/S2/S3.
        hot_pixels: number of hot pixels (S4: 3x).
        hot_hz: (low, high) rate range of a hot pixel (Hz), log-uniform.
        flicker_pixels: S3 lit pixels that follow the 100 Hz neon flicker.
        flicker_p: probability that a lit pixel fires in one flicker half-period.
        cluster: edge events come in runs of this many adjacent pixels (see
            :func:`signer_events`); 1 = independent events.
        sunlight_background: S4 background multiplier.
        sunlight_gain: S4 edge-gain multiplier.
        burst: mean events per edge crossing at one pixel (see :func:`signer_events`); 1 = one
            event per crossing (no bursts).
        burst_gap_ms: mean interval (ms) between the events of a burst.
    """

    name: str
    edge_gain: float
    background_hz: float
    hot_pixels: int
    hot_hz: tuple[float, float]
    flicker_pixels: int
    flicker_p: float
    cluster: int = 1
    sunlight_background: float = 8.0
    sunlight_gain: float = 1.4
    burst: float = 1.0
    burst_gap_ms: float = 1.5


SCALES: dict[str, Scale] = {
    "tiny": Scale("tiny", 0.035, 0.003, 2, (0.5, 3.0), 40, 0.01, cluster=4),
    "small": Scale(
        "small", 0.24, 0.008, 3, (1.0, 10.0), 100, 0.02, cluster=3, burst=2.5, burst_gap_ms=6.0
    ),
    "full": Scale("full", 1.2, 0.08, 5, (2.0, 40.0), 300, 0.12, burst=3.5, burst_gap_ms=6.0),
}

#: pose-grid steps (s); the pose is linear within a step (hands move ~1 px per step)
HAND_STEP, BODY_STEP = 5e-3, 2e-2

# stream purposes (design uses 0)
_EDGES, _NOISE = 1, 2


# ---------------------------------------------------------------- rigid parts


def sample_edges(
    rng: np.random.Generator,
    part: Part,
    pose_fn,
    t0: float,
    t1: float,
    gain: float,
    step: float = 5e-4,
    with_normal: bool = False,
) -> tuple[np.ndarray, ...]:
    """Events of a moving rigid part during ``[t0, t1)`` (seconds).

    The pose is evaluated on a grid of ``step`` seconds and interpolated linearly in between,
    so each edge point moves at constant velocity within a step; its speed bound is then exact
    (the largest vertex speed in the step) and no candidate needs a trigonometric call.

    Args:
        pose_fn: ``t -> (cx, cy, angle, scale)`` arrays (scene px, radians).
        gain: events per px of edge per px moved (contrast 1).

    Returns:
        ``t`` (s, float64, unsorted), ``X``, ``Y`` (scene px, float64), ``rising`` (bool:
        the edge moves outward, i.e. the part covers the pixel); with ``with_normal`` also the
        edge's unit normal ``nx, ny`` at each event.
    """
    empty = (np.empty(0),) * 3 + (np.empty(0, dtype=bool),) + (np.empty(0),) * (2 * with_normal)
    if t1 <= t0 or gain <= 0:
        return empty
    n = max(1, int(np.ceil((t1 - t0) / step)))
    grid = t0 + step * np.arange(n + 1)
    cx, cy, ang, sc = (np.broadcast_to(np.asarray(a, dtype=np.float64), grid.shape)
                       for a in pose_fn(grid))  # fmt: skip
    # rotation-scale matrix entries per grid point: world = c + [[a, -b], [b, a]] @ q
    ra, rb = sc * np.cos(ang), sc * np.sin(ang)
    dcx, dcy, dra, drb = (np.diff(v) for v in (cx, cy, ra, rb))
    vu, vv = part.vertices[:, 0], part.vertices[:, 1]
    dx = dcx[:, None] + dra[:, None] * vu - drb[:, None] * vv
    dy = dcy[:, None] + drb[:, None] * vu + dra[:, None] * vv
    bound = np.sqrt((dx * dx + dy * dy).max(axis=1)) / step + 1e-3  # px/s, exact per step
    dt = np.minimum(grid[1:], t1) - grid[:-1]
    weights, cum = part.weights, part.cum_weights
    total = float(cum[-1])
    m = rng.poisson(gain * bound * dt * total)
    k = np.repeat(np.arange(n), m)
    size = len(k)
    if size == 0:
        return empty
    frac = rng.random(size) * (dt[k] / step)
    e = np.minimum(
        np.searchsorted(cum, rng.random(size) * total, side="right"),
        len(weights) - 1,
    )
    f = rng.random(size)
    qu = part.p0[e, 0] + f * (part.p1[e, 0] - part.p0[e, 0])
    qv = part.p0[e, 1] + f * (part.p1[e, 1] - part.p0[e, 1])
    a_k, b_k = ra[k] + frac * dra[k], rb[k] + frac * drb[k]
    vx = dcx[k] + dra[k] * qu - drb[k] * qv
    vy = dcy[k] + drb[k] * qu + dra[k] * qv
    nu, nv = part.normal[e, 0], part.normal[e, 1]
    nx, ny = (a_k * nu - b_k * nv) / sc[k], (b_k * nu + a_k * nv) / sc[k]
    w = (vx * nx + vy * ny) / step
    keep = np.flatnonzero(rng.random(size) * bound[k] < np.abs(w))
    k, frac, qu, qv, a_k, b_k = k[keep], frac[keep], qu[keep], qv[keep], a_k[keep], b_k[keep]
    x = cx[k] + frac * dcx[k] + a_k * qu - b_k * qv
    y = cy[k] + frac * dcy[k] + b_k * qu + a_k * qv
    out = (grid[k] + frac * step, x, y, w[keep] > 0)
    return (*out, nx[keep], ny[keep]) if with_normal else out


# ---------------------------------------------------------------- the signer


def _centre(design: RecordingDesign) -> tuple[float, float]:
    st = design.style
    return 64.0 + st.zoom * st.body_x, st.body_y


def _to_scene(design: RecordingDesign, x, y):
    """Sign-space (px from the body centre column, height from the bottom) to scene px."""
    st = design.style
    return 64.0 + st.zoom * (st.body_x + x), 64.0 + st.zoom * (st.body_y + y - 64.0)


def _hand_track(design: RecordingDesign, g: GestureDesign, dominant: bool):
    """``t -> (wx, wy, bend)`` of one hand during gesture ``g``, or None if it stays at rest."""
    st = design.style
    sign = SIGNS[g.class_id]
    probe = sign(np.zeros(1), 1.0)
    if not dominant and probe[1] is None:
        return None
    side = 1.0 if dominant else -1.0
    rest = _to_scene(design, side * 30.0, -45.0)
    raise_t = float(np.clip(0.15 * (g.motion_end - g.motion_start), 0.25, 0.7))
    a0, b1 = g.motion_start, g.motion_end
    a1, b0 = a0 + raise_t, b1 - raise_t
    amp = st.amplitude * g.amplitude

    def track(t):
        t = np.asarray(t, dtype=np.float64)
        s = np.clip((t - a1) / max(b0 - a1, 1e-6), 0.0, 1.0)
        target = sign(s, amp)[0 if dominant else 1]
        x, y = _to_scene(design, target[0] + g.dx, target[1] + g.dy)
        up = 0.5 - 0.5 * np.cos(np.pi * np.clip((t - a0) / raise_t, 0.0, 1.0))
        down = 0.5 - 0.5 * np.cos(np.pi * np.clip((b1 - t) / raise_t, 0.0, 1.0))
        wgt = np.where(t < b0, up, down)
        return rest[0] + wgt * (x - rest[0]), rest[1] + wgt * (y - rest[1]), wgt * target[2]

    return track, rest, side


def _arm_poses(design: RecordingDesign, track, rest, side):
    """Pose functions of the hand and the forearm (elbow follows the wrist at 35 %)."""
    sc = design.style.hand_scale * design.style.zoom
    ex0, ey0 = rest[0] + side * 6.0, rest[1] - 40.0

    def forearm(t):
        wx, wy, _ = track(t)
        ex, ey = ex0 + 0.35 * (wx - rest[0]), ey0 + 0.35 * (wy - rest[1])
        phi = np.arctan2(wy - ey, wx - ex)
        return wx, wy, phi, sc + 0.0 * wx

    def hand(t):
        wx, wy, phi, s = forearm(t)
        return wx, wy, phi + track(t)[2], s

    return hand, forearm


def _body_pose(design: RecordingDesign, rng: np.random.Generator):
    st = design.style
    cx, cy = _to_scene(design, 0.0, 70.0)
    f = rng.uniform(0.15, 0.6, size=3)
    ph = rng.uniform(0.0, TAU, size=3)
    a = st.sway

    def pose(t):
        t = np.asarray(t, dtype=np.float64)
        x = cx + a * np.sin(TAU * f[0] * t + ph[0]) + 0.4 * a * np.sin(TAU * f[1] * t + ph[1])
        y = cy + 0.3 * a * np.sin(TAU * f[2] * t + ph[2])
        ang = np.pi / 2 + 0.01 * a * np.sin(TAU * f[1] * t + ph[2])
        return x, y, ang, st.zoom + 0.0 * t

    return pose


def _camera(design: RecordingDesign, x: np.ndarray, y: np.ndarray):
    """Handedness mirror and the S1 keystone warp, in scene px."""
    st = design.style
    if st.left_handed:
        x = 2.0 * _centre(design)[0] - x
    if st.tilt:
        v = y / SENSOR
        x = 64.0 + (x - 64.0) * (1.0 - st.tilt * (v - 0.5))
        y = SENSOR * (0.08 + 0.95 * v - 0.5 * st.tilt * v * v)
    return x, y


def signer_events(design: RecordingDesign, scale: Scale):
    """Edge events of the body and both hands: ``t`` (s), ``x``, ``y`` (int scene px), ``p``.

    With ``scale.cluster = k > 1`` each sampled event becomes a run of ``k`` events on adjacent
    pixels along the edge (4-connected, within 1 ms), sampled at ``gain / k``: the same mean
    intensity, but spatially coherent like a real edge crossing a row of pixels, so that a
    low-rate scale survives a neighbourhood denoising filter as real data does.

    With ``scale.burst = b > 1`` each of those events becomes a burst at its pixel: ``1 +
    Poisson(b - 1)`` events of the same polarity, spaced by exponential intervals of mean
    ``scale.burst_gap_ms``, sampled at ``gain / b`` (same mean intensity). A real DVS pixel
    crossed by a contrast edge fires several events within a few ms (one per threshold step of
    the log-intensity change), and its neighbours along the edge fire at about the same time;
    the per-pixel and per-4x4-cell inter-event intervals of real DVS128 recordings
    (``benchmarks/synth_realism.py``) are matched this way.
    """
    rng = stream(design.seed, design.index, _EDGES)
    k = max(1, int(scale.cluster))
    gain = scale.edge_gain * (scale.sunlight_gain if design.group == "S4" else 1.0) / k
    if scale.burst != 1.0:
        gain /= scale.burst
    body = _body_pose(design, rng)
    parts = [sample_edges(rng, BODY, body, 0.0, design.duration, gain, BODY_STEP, with_normal=True)]
    mirrored = (HAND.mirrored(), FOREARM.mirrored())
    for g in design.gestures:
        for dominant in (True, False):
            spec = _hand_track(design, g, dominant)
            if spec is None:
                continue
            hand_pose, arm_pose = _arm_poses(design, *spec)
            hand, arm = (HAND, FOREARM) if dominant else mirrored
            for part, pose in ((hand, hand_pose), (arm, arm_pose)):
                parts.append(
                    sample_edges(
                        rng, part, pose, g.motion_start, g.motion_end, gain, HAND_STEP, True
                    )
                )
    t, x, y, rising, nx, ny = (np.concatenate([p[i] for p in parts]) for i in range(6))
    x, y = _camera(design, x, y)
    n = len(t)
    x = np.floor(x + rng.normal(0.0, 0.35, n))
    y = np.floor(y + rng.normal(0.0, 0.35, n))
    pol = rising == design.style.bright
    pol ^= rng.random(n) < 0.04
    if k > 1:
        if design.style.left_handed:
            nx = -nx
        # step along the edge tangent (-ny, nx), on its dominant axis: 4-connected runs
        along_x = np.abs(ny) >= np.abs(nx)
        sx = np.where(along_x, np.where(ny > 0, -1.0, 1.0), 0.0)
        sy = np.where(along_x, 0.0, np.where(nx > 0, 1.0, -1.0))
        j = np.array([(i + 1) // 2 * (1 if i % 2 else -1) for i in range(k)], dtype=np.float64)
        jj = np.tile(j, n)
        x = np.repeat(x, k) + jj * np.repeat(sx, k)
        y = np.repeat(y, k) + jj * np.repeat(sy, k)
        t = np.repeat(t, k) + (jj != 0) * rng.random(n * k) * 1e-3
        pol = np.repeat(pol, k)
    if scale.burst != 1.0:
        t, x, y, pol = _bursts(rng, t, x, y, pol, scale.burst, scale.burst_gap_ms * 1e-3)
    inside = (x >= 0) & (x < SENSOR) & (y >= 0) & (y < SENSOR)
    return t[inside], x[inside].astype(np.int16), y[inside].astype(np.int16), pol[inside]


def _bursts(rng: np.random.Generator, t, x, y, pol, mean: float, gap: float):
    """Each event -> ``1 + Poisson(mean - 1)`` events at its pixel, exponential gaps ``gap`` s."""
    m = 1 + rng.poisson(mean - 1.0, len(t))
    total = int(m.sum())
    start = np.cumsum(m) - m  # index of each burst's first event in the output
    first = np.zeros(total, dtype=bool)
    first[start] = True
    steps = np.where(first, 0.0, rng.exponential(gap, total))
    cs = np.cumsum(steps)
    offset = cs - np.repeat(cs[start], m)
    return np.repeat(t, m) + offset, np.repeat(x, m), np.repeat(y, m), np.repeat(pol, m)


# ---------------------------------------------------------------- sensor noise


def noise_events(design: RecordingDesign, scale: Scale):
    """Background activity, hot pixels and (S3) neon flicker: ``t`` (s), ``x``, ``y``, ``p``."""
    rng = stream(design.seed, design.index, _NOISE)
    T = design.duration
    out = []
    ba = scale.background_hz * (scale.sunlight_background if design.group == "S4" else 1.0)
    n = rng.poisson(ba * SENSOR * SENSOR * T)
    out.append((rng.random(n) * T, rng.integers(0, SENSOR, n), rng.integers(0, SENSOR, n),
                rng.random(n) < 0.5))  # fmt: skip
    n_hot = scale.hot_pixels * (3 if design.group == "S4" else 1)
    lo, hi = np.log(scale.hot_hz[0]), np.log(scale.hot_hz[1])
    for _ in range(n_hot):
        hx, hy = rng.integers(0, SENSOR, 2)
        rate = np.exp(rng.uniform(lo, hi))
        on = rng.random() < 0.5
        k = rng.poisson(rate * T)
        out.append((rng.random(k) * T, np.full(k, hx), np.full(k, hy), (rng.random(k) < 0.9) == on))
    if design.group == "S3":
        # lit pixels: a lamp reflection patch near the top + scattered static edges
        px, py = rng.integers(10, 100), rng.integers(96, 120)
        patch = np.stack(np.meshgrid(np.arange(px, px + 24), np.arange(py, py + 8)), -1).reshape(
            -1, 2
        )
        scattered = rng.integers(0, SENSOR, size=(scale.flicker_pixels, 2))
        lit = np.concatenate([patch, scattered])
        freq = 100.0 * (1.0 + rng.normal(0.0, 2e-4))  # 50 Hz mains -> 100 Hz flicker
        half = 0.5 / freq
        phase = rng.uniform(0.0, half)
        n_half = int(T / half)
        k = rng.poisson(n_half * len(lit) * scale.flicker_p)
        hidx = rng.integers(0, n_half, k)
        which = rng.integers(0, len(lit), k)
        t = phase + hidx * half + np.abs(rng.normal(0.0, 3e-4, k))
        keep = t < T
        out.append((t[keep], lit[which, 0][keep], lit[which, 1][keep], (hidx % 2 == 0)[keep]))
    t = np.concatenate([o[0] for o in out])
    x = np.concatenate([o[1] for o in out]).astype(np.int16)
    y = np.concatenate([o[2] for o in out]).astype(np.int16)
    p = np.concatenate([o[3] for o in out]).astype(bool)
    return t, x, y, p


# ---------------------------------------------------------------- a whole recording


def render_recording(design: RecordingDesign, scale: Scale) -> tuple[np.ndarray, np.ndarray]:
    """All events of one recording and its tag rows.

    Returns:
        events: :data:`~eventpipe.events.EVENT_DTYPE` [n], sorted by ``t`` (stable), ``t`` in
            us on the device clock (``offset_us`` + time since start; exceeds 2**32 after a wrap),
            ``x``/``y`` in the published address orientation (``x = scene Y``,
            ``y = 127 - scene X``).
        tags: int64 [19, 3] rows ``(class_id 0-based, start, end)`` event indices, end exclusive,
            in class order (= time order).
    """
    ts, xs, ys, ps = signer_events(design, scale)
    tn, xn, yn, pn = noise_events(design, scale)
    t_rel = np.floor(np.concatenate([ts, tn]) * 1e6).astype(np.int64)
    order = np.argsort(t_rel, kind="stable")
    t_rel = t_rel[order]
    X = np.concatenate([xs, xn])[order]
    Y = np.concatenate([ys, yn])[order]
    P = np.concatenate([ps, pn])[order]
    ev = np.empty(len(t_rel), dtype=EVENT_DTYPE)
    ev["x"] = Y
    ev["y"] = SENSOR - 1 - X
    ev["t"] = t_rel + design.offset_us
    ev["p"] = P
    tags = np.empty((len(design.gestures), 3), dtype=np.int64)
    for i, g in enumerate(design.gestures):
        a = int(np.floor(g.start * 1e6))
        b = int(np.floor(g.end * 1e6))
        tags[i] = (g.class_id, np.searchsorted(t_rel, a, "left"), np.searchsorted(t_rel, b, "left"))
    return ev, tags
