//! Semantic checks of a loaded workflow: the rules beyond structure.
