//! Wire frames and their encodings (see issue 4).
