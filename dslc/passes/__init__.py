"""Analysis passes over the IR graph."""
