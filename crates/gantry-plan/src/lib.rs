//! Event + workflow -> job graph IR (self-contained, serialisable job specs).
