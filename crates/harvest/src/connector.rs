//! FIXME: to be written.
