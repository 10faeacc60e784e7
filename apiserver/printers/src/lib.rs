//! Server-side Table printers (being written).
