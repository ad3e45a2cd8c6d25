#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| acktrack_fuzz::config::run(data));
