"""Work units: syntax-aware, lossless, bounded pieces of a file.

How a file is split (one pass over the parts of the tree that do not fit):
1. A node that fits in the budget is taken whole, without visiting its children; this
   is what keeps splitting cheap next to parsing.
2. A node that does not fit is opened: a definition (class, function, ... per
   languages.py) becomes its own scope, whose symbol path gets the definition's name;
   any other node is replaced by its children in the current scope. A leaf that does not
   fit (a huge string) is cut by lines, and a huge line by characters.
3. Inside a scope, siblings are packed greedily into groups. A definition that is at
   least 1/4 of the budget always starts its own group, so editing one function does not
   move the boundaries of the others (ids stay stable). Comments and attributes go with
   the definition they precede; a tiny group joins its neighbour.
4. The groups tile the file: each unit also takes the indentation before it, and any
   bytes the grammar skipped that are not whitespace go to a neighbouring unit. So every
   non-whitespace character is in exactly one unit, and no unit is over the budget
   (checked in bytes, and estimate_tokens(text) <= ceil(bytes / 3.5)).

A unit's symbol is its scope's path plus the definition it holds ("Parser.parse_expr"),
"Parser.first..last" when small sibling definitions were packed together, or just the
scope's path ("" at the top level) when it holds no definition. Ids derive from path,
symbol, content hash and an ordinal among units with the same symbol and content, never
from byte offsets.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, fields
from itertools import islice
from typing import Any, Iterator

import tree_sitter

from refute.analysis.definitions import DefInfo, definition_of, signature_of
from refute.analysis.languages import TEXT, LanguageSpec, parse, spec_for
from refute.analysis.tokens import BYTES_PER_TOKEN, max_bytes_for

MIN_MAX_TOKENS = 16  # below this a single 4-byte character could not fit in a unit
_TINY_UNIT_BYTES = 24  # a unit smaller than this (a closing "}" or "end") joins its neighbour
_MAX_HEADER_IMPORTS = 300
_IMPORT_SCAN = 400
_OPENERS = (b"{", b"(", b"[", b":", b"<")  # a tiny group ending in one of these opens what follows


@dataclass
class WorkUnit:
    """A piece of one file. Lines are 0-based and inclusive (end_line is the line of the
    last character); bytes are UTF-8 offsets, end exclusive. `tokens` estimates `text`."""

    id: str
    path: str
    language: str
    start_line: int
    end_line: int
    start_byte: int
    end_byte: int
    symbol: str  # "Parser.parse_expr"; "Parser.get_a..get_z" for packed siblings; "" at top level
    header: str  # context for a prompt: file, imports, enclosing signatures
    text: str
    content_hash: str
    tokens: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "WorkUnit":
        names = {f.name for f in fields(cls)}
        missing = names - data.keys()
        if missing:
            raise ValueError(f"work unit record is missing {sorted(missing)}")
        return cls(**{k: data[k] for k in names})


@dataclass(frozen=True)
class _Scope:
    symbol: str
    signatures: tuple[str, ...]


@dataclass
class _Piece:
    start: int
    end: int
    scope: _Scope
    names: tuple[str, ...] = ()  # first and last definition inside the piece (for its symbol)


class _Group:
    __slots__ = ("start", "end", "names", "standalone")  # names: the definition nodes inside

    def __init__(self, start: int, end: int, names: tuple, standalone: bool = False) -> None:
        self.start, self.end, self.names, self.standalone = start, end, names, standalone


# Elements of a scope's sibling stream.
_NODE, _SCOPE, _SPLIT = 0, 1, 2


class _Splitter:
    def __init__(self, data: bytes, spec: LanguageSpec, max_bytes: int) -> None:
        self.data = data
        self.spec = spec
        self.max_bytes = max_bytes
        self.standalone_bytes = max_bytes // 4
        self.attach_types = spec.comments | spec.prefixes
        self.definitions = spec.definitions
        self.pieces: list[_Piece] = []

    # -- the walk -----------------------------------------------------------------
    # The splitter's size checks use the node's own bytes; the tiler adds a unit's
    # indentation only when that still fits, so the bound holds either way.

    def flatten(self, node: tree_sitter.Node, out: list, opened: frozenset[int] = frozenset()) -> None:
        """Append `node` to the stream whole if it fits, else its parts, in file order.
        Nodes in `opened` are always opened (a scope's own wrapper and body). Iterative:
        deeply nested oversized code cannot exhaust the interpreter's stack."""
        max_bytes = self.max_bytes
        definitions = self.definitions
        append = out.append
        any_opened = bool(opened)
        stack = [iter((node,))]
        while stack:
            for child in stack[-1]:
                start, end = child.start_byte, child.end_byte
                is_opened = any_opened and child.id in opened
                if end - start <= max_bytes and not is_opened:
                    append((_NODE, child, start, end, child.type))  # the common case
                    continue
                if not is_opened and child.type in definitions:
                    info = definition_of(child, self.spec)
                    if info is not None:
                        out.append((_SCOPE, child, info))
                        continue
                children = child.children
                if not children:
                    out.append((_SPLIT, child))
                    continue
                stack.append(iter(children))
                break
            else:
                stack.pop()

    def scope(self, elements: list, scope: _Scope) -> None:
        seq = self.pack(elements, scope)
        for entry in seq:
            if isinstance(entry, _Group):
                self.pieces.append(_Piece(entry.start, entry.end, scope, self.names(entry.names)))
            elif entry[0] == _SCOPE:
                _, node, info, leading = entry
                inner_scope = _Scope(
                    f"{scope.symbol}.{info.name}" if scope.symbol else info.name,
                    scope.signatures + (signature_of(info, self.data),),
                )
                inner: list = list(leading)
                opened = self.opened_parts(node, info)
                for child in node.children:
                    self.flatten(child, inner, opened)
                self.scope(inner, inner_scope)
            else:  # _SPLIT
                node = entry[1]
                for start, end in split_range(self.data, node.start_byte, node.end_byte, self.max_bytes):
                    self.pieces.append(_Piece(start, end, scope))

    def names(self, nodes: tuple) -> tuple[str, ...]:
        """The first and last definition names among `nodes` (all a symbol path shows)."""
        first = last = None
        first_index = 0
        for first_index, node in enumerate(nodes):
            first = definition_of(node, self.spec)
            if first is not None:
                break
        if first is None:
            return ()
        for node in reversed(nodes[first_index + 1:]):
            last = definition_of(node, self.spec)
            if last is not None:
                return (first.name, last.name)
        return (first.name,)

    def opened_parts(self, node: tree_sitter.Node, info: DefInfo) -> frozenset[int]:
        """The parts of an oversized definition to open even when they fit: the wrapped
        definition (decorators, export, template open into it rather than nesting a scope
        of the same name) and its body, so the signature packs with the first statements
        instead of standing alone."""
        ids = {info.node.id}
        body = info.node.child_by_field_name("body")
        while body is not None:
            ids.add(body.id)
            named = body.named_children
            # Go: block > statement_list. A lone nested definition keeps its own scope.
            body = named[0] if len(named) == 1 and named[0].type not in self.definitions else None
        ids.discard(node.id)
        return frozenset(ids)

    def pack(self, elements: list, scope: _Scope) -> list:
        """Group the scope's stream; returns groups and (scope/split) barriers in order."""
        seq: list = []
        max_bytes = self.max_bytes
        standalone_bytes = self.standalone_bytes
        attach_types = self.attach_types
        definitions = self.definitions
        current: _Group | None = None  # the open group small siblings may still join
        pending: list[tuple[int, int]] = []  # comments/attributes waiting for what they annotate

        def join_small(spans: list[tuple[int, int]], current: _Group | None) -> _Group | None:
            """Append loose spans to the open group while it stays within the budget."""
            for p_start, p_end in spans:
                if current is not None and p_end - current.start <= max_bytes:
                    current.end = p_end
                else:
                    current = _Group(p_start, p_end, ())
                    seq.append(current)
            return current

        for element in elements:
            kind = element[0]
            if kind == _NODE:
                _, node, start, end, node_type = element
                if node_type in attach_types:
                    pending.append((start, end))
                    continue
                is_def = node_type in definitions  # named lazily: most names are never shown
                if pending:
                    if end - pending[0][0] <= max_bytes:
                        start = pending[0][0]
                    else:  # too big together: the comments join the small siblings before
                        current = join_small(pending, current)
                    pending = []
                if is_def and end - start >= standalone_bytes:
                    seq.append(_Group(start, end, (node,), True))
                    current = None
                elif current is not None and end - current.start <= max_bytes:
                    current.end = end
                    if is_def:
                        current.names += (node,)
                else:
                    current = _Group(start, end, (node,) if is_def else ())
                    seq.append(current)
            elif kind == _SCOPE:
                seq.append((_SCOPE, element[1], element[2], [(_NODE, None, s, e, "") for s, e in pending]))
                pending = []
                current = None
            else:
                for p_start, p_end in pending:
                    seq.append(_Group(p_start, p_end, ()))
                pending = []
                seq.append(element)
                current = None
        join_small(pending, current)
        return self.merge_tiny(seq)

    def merge_tiny(self, seq: list) -> list:
        """Fold tiny groups into an adjacent group: an opening line ("class Foo {") into
        the next one, anything else (a closing "};", a one-line constant) into the previous."""
        tiny = max(_TINY_UNIT_BYTES, self.max_bytes // 20)
        out: list = []
        i = 0
        while i < len(seq):
            entry = seq[i]
            if isinstance(entry, _Group) and entry.end - entry.start < tiny:
                nxt = seq[i + 1] if i + 1 < len(seq) else None
                prev = out[-1] if out else None
                can_next = isinstance(nxt, _Group) and nxt.end - entry.start <= self.max_bytes
                can_prev = isinstance(prev, _Group) and entry.end - prev.start <= self.max_bytes
                opens = self.data[entry.start:entry.end].rstrip()[-1:] in _OPENERS
                if can_next and (opens or not can_prev):
                    nxt.start = entry.start
                    nxt.names = entry.names + nxt.names
                    i += 1
                    continue
                if can_prev:
                    prev.end = entry.end
                    prev.names += entry.names
                    i += 1
                    continue
            out.append(entry)
            i += 1
        return out


def split_range(data: bytes, start: int, end: int, max_bytes: int) -> Iterator[tuple[int, int]]:
    """Cut [start, end) into pieces of at most max_bytes: at line ends, or, for a line
    longer than that, at character boundaries."""
    pos = start
    while pos < end:
        if end - pos <= max_bytes:
            yield pos, end
            return
        limit = pos + max_bytes
        cut = data.rfind(b"\n", pos, limit) + 1
        if cut <= pos:
            cut = limit
            while cut > pos and (data[cut] & 0xC0) == 0x80:  # never inside a UTF-8 sequence
                cut -= 1
            if cut == pos:  # cannot happen with max_bytes >= 4; guard against a stall anyway
                cut = limit
        yield pos, cut
        pos = cut


def _imports_summary(root: tree_sitter.Node, elements: list, spec: LanguageSpec) -> str:
    """One line naming the file's top-level imports. Reads the root's stream when the
    root was opened (no second pass over its children)."""
    if not spec.imports:
        return ""
    if elements and elements[0][1] is root or len(elements) == 1:
        candidates = [c for c in root.children if c.type in spec.imports]
    else:
        # Imports sit near the top: the first few hundred top-level statements are enough.
        candidates = [e[1] for e in islice(elements, _IMPORT_SCAN) if e[0] == _NODE and e[4] in spec.imports]
    lines: list[str] = []
    size = 0
    count = len(candidates)
    for child in candidates:
        text = " ".join((child.text or b"").decode("utf-8", "replace").split()).rstrip(";")
        if size + len(text) > _MAX_HEADER_IMPORTS:
            break
        lines.append(text)
        size += len(text) + 2
    if not count:
        return ""
    more = f" (+{count - len(lines)} more)" if count > len(lines) else ""
    return "imports: " + "; ".join(lines) + more


def _header(path: str, language: str, imports: str, scope: _Scope) -> str:
    lines = [f"file: {path} ({language})"]
    if imports:
        lines.append(imports)
    signatures = scope.signatures
    if len(signatures) > 3:  # keep headers short: the outermost and the two innermost
        signatures = (signatures[0], "…", *signatures[-2:])
    if signatures:
        lines.append("inside: " + " > ".join(signatures))
    return "\n".join(lines)


def _symbol(piece: _Piece) -> str:
    names = piece.names
    base = piece.scope.symbol
    if not names:
        return base
    own = names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"
    return f"{base}.{own}" if base else own


def _align(data: bytes, pos: int) -> int:
    while 0 < pos < len(data) and (data[pos] & 0xC0) == 0x80:
        pos -= 1
    return pos


def _tile(data: bytes, pieces: list[_Piece], max_bytes: int) -> list[_Piece]:
    """Turn pieces into disjoint ranges that cover every non-whitespace byte."""
    out: list[_Piece] = []
    prev_end = 0

    def cover_gap(gap_start: int, gap_end: int, scope: _Scope, next_end: int | None) -> int | None:
        """Give bytes the grammar skipped (a BOM, a stray control character) to the unit
        before, else to the next one (returns its new start), else units of their own."""
        gap = data[gap_start:gap_end]
        stripped = gap.strip()
        if not stripped:
            return None
        lo = gap_start + (len(gap) - len(gap.lstrip()))
        hi = lo + len(stripped)
        if out and out[-1].end <= lo and hi - out[-1].start <= max_bytes:
            out[-1].end = hi
            return None
        if next_end is not None and next_end - lo <= max_bytes:
            return lo
        for s, e in split_range(data, lo, hi, max_bytes):
            out.append(_Piece(s, e, out[-1].scope if out else scope))
        return None

    for piece in pieces:
        start, end = _align(data, piece.start), _align(data, piece.end)
        start = max(start, prev_end)
        if end <= start:
            continue
        new_start = cover_gap(prev_end, start, piece.scope, end)
        if new_start is not None:
            start = new_start
        else:
            line_start = data.rfind(b"\n", 0, start) + 1
            if prev_end <= line_start < start and not data[line_start:start].strip() \
                    and end - line_start <= max_bytes:
                start = line_start
        out.append(_Piece(start, end, piece.scope, piece.names))
        prev_end = end
    cover_gap(prev_end, len(data), pieces[-1].scope if pieces else _Scope("", ()), None)

    # Trailing whitespace belongs to nobody; tiny leftovers join the unit before them.
    merged: list[_Piece] = []
    for piece in out:
        text = data[piece.start:piece.end]
        trimmed = len(text.rstrip())
        if not text[:trimmed].strip():
            continue
        piece.end = piece.start + trimmed
        if merged and piece.end - piece.start < _TINY_UNIT_BYTES and piece.end - merged[-1].start <= max_bytes \
                and not piece.names:
            merged[-1].end = piece.end
            continue
        merged.append(piece)
    return merged


def split_text(path: str, text: str, language: str, max_tokens: int = 8000) -> list[WorkUnit]:
    """The work units of one file's text (see the module docstring for the guarantees)."""
    if max_tokens < MIN_MAX_TOKENS:
        raise ValueError(f"max_tokens must be at least {MIN_MAX_TOKENS}, got {max_tokens}")
    data = text.encode("utf-8", "surrogatepass")
    if not data.strip():
        return []
    max_bytes = max_bytes_for(max_tokens)
    spec = spec_for(language)
    tree = parse(language, data) if spec is not None else None
    root_scope = _Scope("", ())
    imports = ""
    if tree is None or spec is None:
        pieces = [_Piece(s, e, root_scope) for s, e in split_range(data, 0, len(data), max_bytes)]
    else:
        root = tree.root_node
        splitter = _Splitter(data, spec, max_bytes)
        elements: list = []
        try:
            splitter.flatten(root, elements)
            imports = _imports_summary(root, elements, spec)
            splitter.scope(elements, root_scope)
            pieces = splitter.pieces
        except RecursionError:
            # Thousands of nested oversized definitions: still lossless and bounded, by lines.
            pieces = [_Piece(s, e, root_scope) for s, e in split_range(data, 0, len(data), max_bytes)]
    tiles = _tile(data, pieces, max_bytes)
    return _make_units(path, language or TEXT, data, tiles, imports)


def _make_units(path: str, language: str, data: bytes, tiles: list[_Piece], imports: str) -> list[WorkUnit]:
    units: list[WorkUnit] = []
    ordinals: dict[tuple[str, str], int] = {}
    headers: dict[_Scope, str] = {}
    line, line_pos = 0, 0  # one pass of newline counting over the whole file
    for piece in tiles:
        line += data.count(b"\n", line_pos, piece.start)
        start_line = line
        raw = data[piece.start:piece.end]
        end_line = line + raw.count(b"\n", 0, len(raw) - 1)
        line, line_pos = end_line, piece.end - 1
        unit_text = raw.decode("utf-8", "surrogatepass")
        if unit_text.isspace():  # Unicode spaces the byte-level trim kept (U+00A0, U+001F...)
            continue
        # Same as estimate_tokens(unit_text), without encoding the text again.
        tokens = max(1, math.ceil((len(raw) - unit_text.count("  ")) / BYTES_PER_TOKEN))
        content_hash = hashlib.sha256(raw).hexdigest()
        symbol = _symbol(piece)
        ordinal = ordinals.get((symbol, content_hash), 0)
        ordinals[(symbol, content_hash)] = ordinal + 1
        unit_id = hashlib.sha256(f"unit/v1\0{path}\0{symbol}\0{content_hash}\0{ordinal}".encode()).hexdigest()[:20]
        header = headers.get(piece.scope)
        if header is None:
            header = headers[piece.scope] = _header(path, language, imports, piece.scope)
        units.append(WorkUnit(
            id=unit_id, path=path, language=language, start_line=start_line, end_line=end_line,
            start_byte=piece.start, end_byte=piece.end, symbol=symbol, header=header, text=unit_text,
            content_hash=content_hash, tokens=tokens,
        ))
    return units
