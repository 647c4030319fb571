"""Line charts as standalone SVG, written by hand so that the report needs no
plotting package: a few series of (x, y) points, linear or logarithmic axes,
ticks, a legend. The output is deterministic (same data, same bytes)."""

import math
from xml.sax.saxutils import escape

# Colours that stay distinguishable in grey and for common colour blindness.
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]
MARKERS = ["circle", "square", "diamond", "triangle"]

WIDTH, HEIGHT = 700, 380
LEFT, RIGHT, TOP, BOTTOM = 72, 220, 40, 56  # the legend (about 30 characters) goes on the right


def _nice_step(span, target_ticks=5):
    """A 1/2/5 x 10^k step giving about target_ticks ticks over span."""
    raw = span / max(1, target_ticks)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 5, 10):
        if raw <= m * power:
            return m * power
    return 10 * power


def _fmt(v):
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:g}M"
    if a >= 1e4:
        return f"{v / 1e3:g}k"
    if a >= 1:
        return f"{v:,.0f}" if a >= 100 or float(v).is_integer() else f"{v:g}"
    return f"{v:.2g}"


class _Axis:
    def __init__(self, lo, hi, log, length, flip):
        self.log, self.length, self.flip = log, length, flip
        if log:
            lo, hi = max(lo, 1e-9), max(hi, 1e-9)
            self.lo, self.hi = 10 ** math.floor(math.log10(lo)), 10 ** math.ceil(math.log10(hi))
            if self.lo == self.hi:
                self.hi = self.lo * 10
        else:
            lo = min(0.0, lo)  # linear axes start at zero: ratios read honestly
            if hi <= lo:
                hi = lo + 1
            step = _nice_step(hi - lo)
            self.lo, self.hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
            self.step = step

    def pos(self, v):
        if self.log:
            f = (math.log10(max(v, 1e-9)) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            f = (v - self.lo) / (self.hi - self.lo)
        return (1 - f) * self.length if self.flip else f * self.length

    def ticks(self):
        if self.log:
            out, v = [], self.lo
            while v <= self.hi * 1.0001:
                out.append(v)
                v *= 10
            return out
        n = int(round((self.hi - self.lo) / self.step))
        return [self.lo + i * self.step for i in range(n + 1)]


def _marker(kind, x, y, colour):
    if kind == "square":
        return f'<rect x="{x - 3.5:.1f}" y="{y - 3.5:.1f}" width="7" height="7" fill="{colour}"/>'
    if kind == "diamond":
        return f'<path d="M{x:.1f},{y - 4.5:.1f} L{x + 4.5:.1f},{y:.1f} L{x:.1f},{y + 4.5:.1f} L{x - 4.5:.1f},{y:.1f} Z" fill="{colour}"/>'
    if kind == "triangle":
        return f'<path d="M{x:.1f},{y - 4.5:.1f} L{x + 4.5:.1f},{y + 3.5:.1f} L{x - 4.5:.1f},{y + 3.5:.1f} Z" fill="{colour}"/>'
    return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{colour}"/>'


def line_chart(title, x_label, y_label, series, log_x=False, log_y=False, hlines=()):
    """series: [(name, [(x, y), ...]), ...]; points with y None are skipped.
    hlines: [(y, label)] dashed reference lines (a goal, a floor)."""
    pts = [(x, y) for _, s in series for x, y in s if y is not None]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="11">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{WIDTH / 2:.0f}" y="20" text-anchor="middle" font-size="13" font-weight="bold">{escape(title)}</text>']
    if not pts:
        out.append(f'<text x="{WIDTH / 2:.0f}" y="{HEIGHT / 2:.0f}" text-anchor="middle">no data measured</text>')
        out.append("</svg>")
        return "\n".join(out) + "\n"
    ys = [y for _, y in pts] + [y for y, _ in hlines]
    xa = _Axis(min(x for x, _ in pts), max(x for x, _ in pts), log_x, plot_w, False)
    ya = _Axis(min(ys), max(ys), log_y, plot_h, True)
    out.append(f'<g transform="translate({LEFT},{TOP})">')
    for t in ya.ticks():
        y = ya.pos(t)
        out.append(f'<line x1="0" y1="{y:.1f}" x2="{plot_w}" y2="{y:.1f}" stroke="#e0e0e0"/>')
        out.append(f'<text x="-6" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    for t in xa.ticks():
        x = xa.pos(t)
        out.append(f'<line x1="{x:.1f}" y1="{plot_h}" x2="{x:.1f}" y2="{plot_h + 4}" stroke="black"/>')
        out.append(f'<text x="{x:.1f}" y="{plot_h + 17}" text-anchor="middle">{_fmt(t)}</text>')
    out.append(f'<rect x="0" y="0" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>')
    for y, label in hlines:
        py = ya.pos(y)
        out.append(f'<line x1="0" y1="{py:.1f}" x2="{plot_w}" y2="{py:.1f}" stroke="#888" stroke-dasharray="5,4"/>')
        out.append(f'<text x="{plot_w - 4}" y="{py - 4:.1f}" text-anchor="end" fill="#555">{escape(label)}</text>')
    for i, (name, s) in enumerate(series):
        colour, marker = PALETTE[i % len(PALETTE)], MARKERS[i % len(MARKERS)]
        good = sorted((x, y) for x, y in s if y is not None)
        if len(good) > 1:
            path = " ".join(f"{'M' if k == 0 else 'L'}{xa.pos(x):.1f},{ya.pos(y):.1f}" for k, (x, y) in enumerate(good))
            out.append(f'<path d="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out.extend(_marker(marker, xa.pos(x), ya.pos(y), colour) for x, y in good)
        ly = 10 + 18 * i
        out.append(f'<line x1="{plot_w + 14}" y1="{ly}" x2="{plot_w + 34}" y2="{ly}" stroke="{colour}" stroke-width="2"/>')
        out.append(_marker(marker, plot_w + 24, ly, colour))
        out.append(f'<text x="{plot_w + 40}" y="{ly + 4}">{escape(name)}</text>')
    out.append("</g>")
    out.append(f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 14}" text-anchor="middle">{escape(x_label)}</text>')
    out.append(f'<text transform="translate(16,{TOP + plot_h / 2:.0f}) rotate(-90)" text-anchor="middle">{escape(y_label)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"
