//! `${{ }}` expression language: lexer, parser, AST, values, evaluation. No YAML, no IO.
