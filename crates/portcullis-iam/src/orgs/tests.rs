//! Unit tests of Organizations over an in-memory store.
