//! FIXME: to be written by the store helper.
