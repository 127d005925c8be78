//! Bench (todo).
