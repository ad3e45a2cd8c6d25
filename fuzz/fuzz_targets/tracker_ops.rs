#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: acktrack_fuzz::tracker_ops::Input| acktrack_fuzz::tracker_ops::run(input));
