//! The receiving side of one stream (see issue 4).
