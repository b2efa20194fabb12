//! Unit tests of the IAM API over an in-memory store.
