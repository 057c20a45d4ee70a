"""Languages: detection by extension and shebang, grammars, and per-language tables.

Everything the splitter and the symbol lister know about a language lives in the
`LanguageSpec` table below (which node types are definitions, how to find their names,
which nodes are imports or comments). The algorithms in units.py and symbols.py are
generic and read only these tables.
"""

from __future__ import annotations

import importlib
import re
import threading
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Callable

import tree_sitter

TEXT = "text"


@dataclass(frozen=True)
class Definition:
    """How to read one definition node type.

    `kind`: "class", "function", "interface", ...; a "function" directly inside a
    class-like definition is reported as a "method".
    `name`: field path to the name node. A step is a field name, "#type" (first named
    child of that type) or "field*" (follow the field while present, for C declarators).
    `unwrap`: for wrappers (decorators, `export`, `template<...>`): a field name, or ""
    for "the last named child"; the wrapped node is then read with its own entry.
    `qualifier`: field path to a receiver type, prefixed to the name (Go methods).
    `needs_body`: only a definition when it has a "body" field (C/C++ specifiers).
    `value`/`value_types`: only a definition when the node at that path has such a type.
    """

    kind: str
    name: tuple[str, ...] = ("name",)
    unwrap: str | None = None
    qualifier: tuple[str, ...] = ()
    needs_body: bool = False  # `struct foo` without a body is a use, not a definition
    # A field path whose node must have one of these types (`const f = () => {}` is a
    # function definition; `const x = 1` is not).
    value: tuple[str, ...] = ()
    value_types: frozenset[str] = frozenset()


# Functions directly inside these are methods (namespaces and modules only group functions).
CLASS_LIKE = frozenset({"class", "struct", "interface", "trait", "impl", "enum", "record"})


@dataclass(frozen=True)
class LanguageSpec:
    name: str
    module: str  # grammar wheel
    function: str = "language"  # the wheel's function returning the grammar pointer
    extensions: tuple[str, ...] = ()
    filenames: tuple[str, ...] = ()  # exact file names (e.g. "Rakefile")
    interpreters: tuple[str, ...] = ()  # shebang interpreters
    definitions: dict[str, Definition] = field(default_factory=dict)
    imports: frozenset[str] = frozenset()  # top-level node types summarised in headers
    comments: frozenset[str] = frozenset({"comment"})  # attach to the next definition
    prefixes: frozenset[str] = frozenset()  # other nodes that belong to the next sibling (attributes)
    # Inputs the grammar cannot take safely (returns True for those): they get line-based units.
    unsafe: Callable[[bytes], bool] | None = None


_DEEP_INDENT = re.compile(rb"(?:^|\n)[ \t\f]{400}")


def _python_too_deep(data: bytes) -> bool:
    """tree-sitter-python 0.25 crashes the process (SIGSEGV) on ~512+ indentation levels
    that contain strings. That many levels needs a line indented 400+ columns; pure
    space or tab runs are found with a fast substring search, and only files that mix
    tabs and spaces pay for the regex."""
    if b" " * 400 in data or b"\t" * 400 in data:
        return True
    if b" \t" in data or b"\t " in data or b"\f" in data:
        return _DEEP_INDENT.search(data) is not None
    return False


def _defs(**kinds: Definition) -> dict[str, Definition]:
    return dict(kinds)


D = Definition
_FUNC = D("function")
_CLASS = D("class")
_JS_FUNCTION_VALUES = frozenset({"arrow_function", "function_expression", "function", "generator_function",
                                 "class"})
# `const handler = async (req) => {...}`: named by its (first) declarator.
_JS_CONST_FUNCTION = D("function", name=("#variable_declarator", "name"),
                       value=("#variable_declarator", "value"), value_types=_JS_FUNCTION_VALUES)
_C_STRUCT = D("struct", needs_body=True)
_C_ENUM = D("enum", needs_body=True)

SPECS: dict[str, LanguageSpec] = {
    spec.name: spec
    for spec in [
        LanguageSpec(
            "python", "tree_sitter_python", extensions=(".py", ".pyi", ".pyw"),
            interpreters=("python", "python2", "python3"),
            definitions=_defs(
                function_definition=_FUNC, class_definition=_CLASS,
                decorated_definition=D("function", unwrap="definition"),
            ),
            imports=frozenset({"import_statement", "import_from_statement", "future_import_statement"}),
            unsafe=_python_too_deep,
        ),
        LanguageSpec(
            "javascript", "tree_sitter_javascript", extensions=(".js", ".mjs", ".cjs", ".jsx"),
            interpreters=("node", "nodejs", "deno", "bun"),
            definitions=_defs(
                function_declaration=_FUNC, generator_function_declaration=_FUNC,
                class_declaration=_CLASS, method_definition=_FUNC,
                lexical_declaration=_JS_CONST_FUNCTION, variable_declaration=_JS_CONST_FUNCTION,
                export_statement=D("function", unwrap="declaration"),
            ),
            imports=frozenset({"import_statement"}),
        ),
        LanguageSpec(
            "typescript", "tree_sitter_typescript", "language_typescript", extensions=(".ts", ".mts", ".cts"),
            interpreters=("ts-node", "tsx"),
            definitions=_defs(
                function_declaration=_FUNC, generator_function_declaration=_FUNC,
                class_declaration=_CLASS, abstract_class_declaration=_CLASS, method_definition=_FUNC,
                interface_declaration=D("interface"), enum_declaration=D("enum"),
                type_alias_declaration=D("type"), internal_module=D("namespace"), module=D("namespace"),
                abstract_method_signature=_FUNC,
                lexical_declaration=_JS_CONST_FUNCTION, variable_declaration=_JS_CONST_FUNCTION,
                export_statement=D("function", unwrap="declaration"),
            ),
            imports=frozenset({"import_statement"}),
        ),
        LanguageSpec(
            "tsx", "tree_sitter_typescript", "language_tsx", extensions=(".tsx",),
            definitions=_defs(
                function_declaration=_FUNC, generator_function_declaration=_FUNC,
                class_declaration=_CLASS, abstract_class_declaration=_CLASS, method_definition=_FUNC,
                interface_declaration=D("interface"), enum_declaration=D("enum"),
                type_alias_declaration=D("type"), internal_module=D("namespace"), module=D("namespace"),
                lexical_declaration=_JS_CONST_FUNCTION, variable_declaration=_JS_CONST_FUNCTION,
                export_statement=D("function", unwrap="declaration"),
            ),
            imports=frozenset({"import_statement"}),
        ),
        LanguageSpec(
            "go", "tree_sitter_go", extensions=(".go",),
            definitions=_defs(
                function_declaration=_FUNC,
                method_declaration=D("function", qualifier=("receiver", "#parameter_declaration", "type")),
                type_declaration=D("type", name=("#type_spec", "name")),
            ),
            imports=frozenset({"import_declaration"}),
        ),
        LanguageSpec(
            "rust", "tree_sitter_rust", extensions=(".rs",),
            definitions=_defs(
                function_item=_FUNC, function_signature_item=_FUNC, struct_item=D("struct"),
                enum_item=D("enum"), union_item=D("struct"), trait_item=D("trait"),
                impl_item=D("impl", name=("type",)), mod_item=D("module"), macro_definition=D("macro"),
            ),
            imports=frozenset({"use_declaration", "extern_crate_declaration"}),
            comments=frozenset({"line_comment", "block_comment"}),
            prefixes=frozenset({"attribute_item"}),
        ),
        LanguageSpec(
            "java", "tree_sitter_java", extensions=(".java",),
            definitions=_defs(
                class_declaration=_CLASS, interface_declaration=D("interface"), enum_declaration=D("enum"),
                record_declaration=D("record"), annotation_type_declaration=D("interface"),
                method_declaration=_FUNC, constructor_declaration=_FUNC,
            ),
            imports=frozenset({"import_declaration"}),
            comments=frozenset({"line_comment", "block_comment"}),
        ),
        LanguageSpec(
            "c", "tree_sitter_c", extensions=(".c", ".h"),
            definitions=_defs(
                function_definition=D("function", name=("declarator*",)),
                struct_specifier=_C_STRUCT, union_specifier=_C_STRUCT, enum_specifier=_C_ENUM,
                type_definition=D("type", name=("declarator*",)),
            ),
            imports=frozenset({"preproc_include"}),
        ),
        LanguageSpec(
            "cpp", "tree_sitter_cpp",
            extensions=(".cpp", ".cc", ".cxx", ".c++", ".hpp", ".hh", ".hxx", ".h++", ".ipp", ".tpp"),
            definitions=_defs(
                function_definition=D("function", name=("declarator*",)),
                class_specifier=D("class", needs_body=True), struct_specifier=_C_STRUCT,
                union_specifier=_C_STRUCT, enum_specifier=_C_ENUM, namespace_definition=D("namespace"),
                template_declaration=D("function", unwrap=""),
                type_definition=D("type", name=("declarator*",)),
            ),
            imports=frozenset({"preproc_include", "using_declaration"}),
        ),
        LanguageSpec(
            "csharp", "tree_sitter_c_sharp", extensions=(".cs",),
            definitions=_defs(
                class_declaration=_CLASS, struct_declaration=D("struct"), interface_declaration=D("interface"),
                enum_declaration=D("enum"), record_declaration=D("record"),
                namespace_declaration=D("namespace"), file_scoped_namespace_declaration=D("namespace"),
                method_declaration=_FUNC, constructor_declaration=_FUNC, destructor_declaration=_FUNC,
                property_declaration=D("property"), operator_declaration=D("function", name=("operator",)),
            ),
            imports=frozenset({"using_directive"}),
            prefixes=frozenset({"attribute_list"}),
        ),
        LanguageSpec(
            "ruby", "tree_sitter_ruby", extensions=(".rb", ".rake", ".gemspec", ".ru"),
            filenames=("Rakefile", "Gemfile", "Guardfile", "Vagrantfile"), interpreters=("ruby",),
            definitions=_defs(
                method=_FUNC, singleton_method=_FUNC, **{"class": _CLASS}, module=D("module"),
            ),
            imports=frozenset(),
        ),
        LanguageSpec(
            "php", "tree_sitter_php", "language_php", extensions=(".php", ".phtml", ".php8"), interpreters=("php",),
            definitions=_defs(
                function_definition=_FUNC, method_declaration=_FUNC, class_declaration=_CLASS,
                interface_declaration=D("interface"), trait_declaration=D("trait"), enum_declaration=D("enum"),
                namespace_definition=D("namespace"),
            ),
            imports=frozenset({"namespace_use_declaration"}),
            prefixes=frozenset({"attribute_list"}),
        ),
    ]
}

_BY_EXTENSION = {ext: spec.name for spec in SPECS.values() for ext in spec.extensions}
_BY_FILENAME = {name: spec.name for spec in SPECS.values() for name in spec.filenames}
_BY_INTERPRETER = {interp: spec.name for spec in SPECS.values() for interp in spec.interpreters}
_BY_INTERPRETER.update({"sh": TEXT, "bash": TEXT, "zsh": TEXT, "perl": TEXT})

# Files that are never source: detect() returns None and discovery skips them.
NOT_SOURCE_EXTENSIONS = frozenset(
    ".png .jpg .jpeg .gif .bmp .ico .webp .tiff .psd .pdf .zip .gz .tgz .bz2 .xz .7z .rar .jar .war "
    ".class .pyc .pyo .so .dll .dylib .exe .o .a .lib .obj .wasm .woff .woff2 .ttf .otf .eot .mp3 .mp4 "
    ".wav .ogg .mov .avi .sqlite .db .bin .dat .pkl .npy .npz .parquet .onnx .pt .h5".split()
)

_SHEBANG = re.compile(r"^#!\s*(?:/usr/bin/env\s+(?:-S\s+)?)?(?:\S*/)?([A-Za-z][\w.+-]*)")


def detect(path: str, first_line: str = "") -> str | None:
    """The language of `path` ("python", "tsx", ...), "text" for other text files, or None
    for files that are never source (images, archives, compiled objects).

    The extension wins; a shebang decides for files without a known extension."""
    pure = PurePosixPath(path)
    suffix = pure.suffix.lower()
    if suffix in _BY_EXTENSION:
        return _BY_EXTENSION[suffix]
    if pure.name in _BY_FILENAME:
        return _BY_FILENAME[pure.name]
    if suffix in NOT_SOURCE_EXTENSIONS:
        return None
    match = _SHEBANG.match(first_line or "")
    if match:
        interpreter = re.sub(r"[\d.]+$", "", match.group(1))  # python3.11 -> python
        return _BY_INTERPRETER.get(match.group(1)) or _BY_INTERPRETER.get(interpreter) or TEXT
    return TEXT


def spec_for(language: str) -> LanguageSpec | None:
    return SPECS.get(language)


_languages: dict[str, tree_sitter.Language] = {}
_languages_lock = threading.Lock()
_parsers = threading.local()  # tree_sitter.Parser is not thread-safe: one per thread


def grammar(language: str) -> tree_sitter.Language | None:
    """The tree-sitter grammar for `language`, or None for "text" and unknown names."""
    spec = SPECS.get(language)
    if spec is None:
        return None
    with _languages_lock:
        if language not in _languages:
            module = importlib.import_module(spec.module)
            _languages[language] = tree_sitter.Language(getattr(module, spec.function)())
        return _languages[language]


def parser_for(language: str) -> tree_sitter.Parser | None:
    """A parser for `language` owned by the calling thread, or None without a grammar."""
    cache = getattr(_parsers, "by_language", None)
    if cache is None:
        cache = _parsers.by_language = {}
    if language not in cache:
        lang = grammar(language)
        cache[language] = tree_sitter.Parser(lang) if lang is not None else None
    return cache[language]


def parse(language: str, data: bytes) -> tree_sitter.Tree | None:
    """The syntax tree of `data`, or None when there is no grammar or the input is one
    the grammar cannot take safely (callers then fall back to lines)."""
    spec = SPECS.get(language)
    if spec is None or (spec.unsafe is not None and spec.unsafe(data)):
        return None
    parser = parser_for(language)
    return parser.parse(data) if parser is not None else None


def supported_languages() -> list[str]:
    return sorted(SPECS)
