//! The thread CPU clock leaves out time the thread did not run.

use std::time::Duration;

use acktrack_benches::clock::Clock;

#[test]
fn thread_cpu_time_leaves_out_sleep() {
    let wall = Clock::Wall.start();
    let cpu = Clock::ThreadCpu.start();
    std::thread::sleep(Duration::from_millis(200));
    assert!(wall.elapsed() >= Duration::from_millis(200));
    if cfg!(unix) {
        assert!(cpu.elapsed() < Duration::from_millis(100), "{:?}", cpu.elapsed());
    }
}
