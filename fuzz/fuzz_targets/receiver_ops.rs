#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: acktrack_fuzz::receiver_ops::Input| acktrack_fuzz::receiver_ops::run(input));
