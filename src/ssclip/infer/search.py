"""Search an image collection with text or image queries through its :mod:`embedding index
<ssclip.infer.index>`; results as rows, JSON records, or a contact sheet (HTML with embedded thumbnails, or PNG).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image, ImageDraw, ImageFont

from ssclip.data.types import load_image
from ssclip.eval.embed import encode_texts
from ssclip.infer.images import encode_image_files
from ssclip.infer.index import EmbeddingIndex
from ssclip.models.factory import CLIPBundle

__all__ = ["Hit", "QueryResult", "search_index", "write_contact_sheet_html", "write_contact_sheet_png"]


@dataclass(frozen=True)
class Hit:
    rank: int  # 1 = best
    image: Path
    score: float  # cosine similarity


@dataclass
class QueryResult:
    query: str
    kind: str  # "text" or "image"
    hits: list[Hit]


def search_index(
    index: EmbeddingIndex,
    bundle: CLIPBundle,
    texts: Sequence[str] = (),
    images: Sequence[Path] = (),
    top_k: int = 10,
    device: torch.device | str = "cpu",
) -> list[QueryResult]:
    """The ``top_k`` images of ``index`` for every text query, then every image query. Image paths in the
    results are as the index stores them, resolved against its folder when relative."""
    if not texts and not images:
        raise ValueError("no query: give at least one text or image query")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    queries: list[tuple[str, str, torch.Tensor]] = []
    model = bundle.model.to(device)
    if texts:
        emb = encode_texts(model, bundle.tokenizer, list(texts), device)
        queries += [(t, "text", e) for t, e in zip(texts, emb, strict=True)]
    if images:
        emb, batches = encode_image_files(model, list(images), bundle.eval_transform, device, strict=True)
        queries += [(str(images[i]), "image", e) for i, e in zip(batches.kept, emb, strict=True)]
    scores, rows = index.search(torch.stack([q[2] for q in queries]), top_k)
    root = index.path.parent
    paths = [p if p.is_absolute() else root / p for p in index.paths]
    results = []
    for q, (text, kind, _) in enumerate(queries):
        pairs = zip(rows[q].tolist(), scores[q].tolist(), strict=True)
        results.append(QueryResult(text, kind, [Hit(r + 1, paths[i], float(s)) for r, (i, s) in enumerate(pairs)]))
    return results


def result_rows(results: Sequence[QueryResult]) -> list[dict[str, object]]:
    """One flat row per hit: ``query``, ``kind``, ``rank``, ``image``, ``score``."""
    return [
        {"query": r.query, "kind": r.kind, "rank": h.rank, "image": str(h.image), "score": round(h.score, 6)}
        for r in results
        for h in r.hits
    ]


def result_records(results: Sequence[QueryResult]) -> list[dict[str, object]]:
    """JSON form: ``{"query", "kind", "results": [{"rank", "image", "score"}]}`` per query."""
    return [
        {
            "query": r.query,
            "kind": r.kind,
            "results": [{"rank": h.rank, "image": str(h.image), "score": round(h.score, 6)} for h in r.hits],
        }
        for r in results
    ]


def _thumbnail(path: Path, size: int) -> Image.Image:
    picture = load_image(path)
    picture.thumbnail((size, size))
    return picture


def write_contact_sheet_html(results: Sequence[QueryResult], path: str | Path, thumb: int = 160) -> Path:
    """One row of thumbnails per query, best first, with rank, score and file name; the thumbnails are embedded
    (base64 JPEG), so the page opens anywhere, without the collection beside it."""
    cells = []
    for r in results:
        figures = []
        for h in r.hits:
            buf = io.BytesIO()
            _thumbnail(h.image, thumb).save(buf, format="JPEG", quality=85)
            data = base64.b64encode(buf.getvalue()).decode()
            name = html.escape(h.image.name)
            figures.append(
                f'<figure><img src="data:image/jpeg;base64,{data}" alt="{name}" title="{html.escape(str(h.image))}">'
                f"<figcaption>#{h.rank} &middot; {h.score:.3f}<br>{name}</figcaption></figure>"
            )
        label = "image" if r.kind == "image" else "text"
        title = f"<h2>{label}: &ldquo;{html.escape(r.query)}&rdquo;</h2>"
        cells.append(f'<section>{title}<div class="row">{"".join(figures)}</div></section>')
    top = max((len(r.hits) for r in results), default=0)
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ssclip search</title>
<style>
body {{ font-family: sans-serif; margin: 16px; background: #fafafa; }}
h2 {{ font-size: 15px; margin: 14px 0 6px; }}
.row {{ display: flex; flex-wrap: wrap; gap: 8px; }}
figure {{ margin: 0; width: {thumb}px; font-size: 11px; text-align: center; }}
img {{ width: {thumb}px; height: {thumb}px; object-fit: cover; border: 1px solid #ccc; }}
</style></head><body>
<h1 style="font-size:18px">ssclip search: {len(results)} queries, top {top}</h1>
{"".join(cells)}
</body></html>
"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path


def write_contact_sheet_png(results: Sequence[QueryResult], path: str | Path, thumb: int = 160) -> Path:
    """The same contact sheet as one PNG (for documents): drawn with PIL, one row per query."""
    pad, title_h, caption_h = 8, 22, 30
    n_cols = max((len(r.hits) for r in results), default=1)
    width = pad + n_cols * (thumb + pad)
    height = pad + len(results) * (title_h + thumb + caption_h + pad)
    sheet = Image.new("RGB", (width, height), (250, 250, 250))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    y = pad
    for r in results:
        draw.text((pad, y + 4), f'{r.kind}: "{r.query}"', fill=(0, 0, 0), font=font)
        y += title_h
        for c, h in enumerate(r.hits):
            x = pad + c * (thumb + pad)
            picture = _thumbnail(h.image, thumb)
            sheet.paste(picture, (x + (thumb - picture.width) // 2, y + (thumb - picture.height) // 2))
            draw.text((x, y + thumb + 3), f"#{h.rank}  {h.score:.3f}", fill=(0, 0, 0), font=font)
            draw.text((x, y + thumb + 15), h.image.name[:26], fill=(60, 60, 60), font=font)
        y += thumb + caption_h + pad
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path
