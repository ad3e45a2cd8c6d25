//! Presence: while disconnected nothing is transmitted and retry clocks
//! pause, deadlines keep running; a connect with a resume point confirms what
//! the client has and retransmits everything pending at once, within the window.

use crate::common;

use core::time::Duration;

use acktrack::{
    Command, ConnectError, EventState, ExpiryReason, Outcome, Seq, SeqRange, SubmitOptions, UserId,
};
use common::*;

const U: UserId = UserId(1);

#[test]
fn nothing_is_transmitted_while_disconnected_and_retry_clocks_pause() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), U).unwrap();
    let sent = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    t.handle_disconnect(ms(10), s).unwrap();
    assert!(!t.stream_info(s).unwrap().connected);
    let queued = submit(&mut t, ms(20), s, 2);
    assert_eq!(t.poll_command(), None, "a submit while offline is queued");
    assert_eq!(t.event_state(queued), Some(EventState::Queued));
    // Ten minutes offline: no retries, no attempts burnt.
    let out = run_until(&mut t, ms(50_000));
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(t.event_state(sent), Some(EventState::Paused { seq: Seq(0), attempts: 1 }));
    assert_eq!(t.metrics().retried, 0);
    // Reconnect: the paused one is retransmitted now, not after a backoff, and the queued one goes out.
    t.handle_connect(ms(50_000), s, Seq(0)).unwrap();
    assert_eq!(
        drain(&mut t),
        [
            Command::Retry { stream: s, event: sent, seq: Seq(0), attempt: 2 },
            Command::Send { stream: s, event: queued, seq: Seq(1), attempt: 1 },
        ]
    );
    assert_eq!(t.metrics().resumes, 1);
}

#[test]
fn deadlines_keep_running_offline_and_expiry_is_skipped_and_counted() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), U).unwrap();
    let sent = t.submit(ms(0), s, 1, SubmitOptions::with_deadline(Duration::from_secs(1))).unwrap();
    let _ = drain(&mut t);
    t.handle_disconnect(ms(10), s).unwrap();
    let queued =
        t.submit(ms(20), s, 2, SubmitOptions::with_deadline(Duration::from_secs(2))).unwrap();
    let out = run_until(&mut t, ms(999));
    assert!(out.is_empty());
    t.handle_timeout(ms(1000));
    assert_eq!(
        drain(&mut t),
        [
            Command::Skip { stream: s, seqs: SeqRange::new(0, 1) },
            Command::Finish {
                event: sent,
                user: U,
                outcome: Outcome::Expired { reason: ExpiryReason::Deadline },
                payload: 1
            },
        ]
    );
    let out = run_until(&mut t, ms(2020));
    assert_eq!(
        out.iter()
            .map(|(at, c)| (*at, c.clone()))
            .filter(|(_, c)| matches!(c, Command::Finish { .. }))
            .collect::<Vec<_>>(),
        [(
            ms(2020),
            Command::Finish {
                event: queued,
                user: U,
                outcome: Outcome::Expired { reason: ExpiryReason::Deadline },
                payload: 2
            }
        )]
    );
    assert_eq!(t.metrics().expired_disconnected, 2);
    assert_eq!(t.user_metrics(U).unwrap().expired_disconnected, 2);
    assert_eq!(t.pending(), 0);
}

#[test]
fn resume_confirms_what_the_client_has_and_retransmits_the_rest_within_the_window() {
    let mut c = config();
    c.flow.window = 3;
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), U).unwrap();
    let e: Vec<_> = (0..5).map(|i| submit(&mut t, ms(0), s, i)).collect();
    let _ = drain(&mut t);
    t.handle_disconnect(ms(10), s).unwrap();
    // The client got seqs 0 and 1 but the acks were lost: it resumes at 2.
    t.handle_connect(ms(20), s, Seq(2)).unwrap();
    let commands = drain(&mut t);
    let confirmed: Vec<_> = finishes(&commands).into_iter().map(|(e, _)| e).collect();
    assert_eq!(confirmed, [e[0], e[1]]);
    assert!(finishes(&commands).iter().all(|(_, o)| o.is_confirmed()));
    // Seq 2 again at once (no backoff wait), then the queue fills the window.
    assert_eq!(transmissions(&commands), [(e[2], Seq(2), 2), (e[3], Seq(3), 1), (e[4], Seq(4), 1)]);
    let m = t.metrics();
    assert_eq!((m.resumes, m.confirmed_by_resume, m.confirmed), (1, 2, 2));
    assert_eq!(t.stream_info(s).unwrap().floor, Seq(2));
}

#[test]
fn retransmission_on_resume_stays_within_the_window() {
    let mut c = config();
    c.flow.window = 2;
    let mut t = tracker(c);
    let s = t.open_stream(ms(0), U).unwrap();
    let e: Vec<_> = (0..4).map(|i| submit(&mut t, ms(0), s, i)).collect();
    let _ = drain(&mut t);
    t.handle_disconnect(ms(1), s).unwrap();
    t.handle_connect(ms(2), s, Seq(0)).unwrap();
    assert_eq!(transmissions(&drain(&mut t)), [(e[0], Seq(0), 2), (e[1], Seq(1), 2)]);
    assert_eq!(t.event_state(e[2]), Some(EventState::Queued));
    assert_eq!(t.stream_info(s).unwrap().in_flight, 2);
}

#[test]
fn a_racing_reconnect_on_a_connected_stream_resumes_the_same_way() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), U).unwrap();
    let a = submit(&mut t, ms(0), s, 1);
    let b = submit(&mut t, ms(0), s, 2);
    let _ = drain(&mut t);
    t.handle_connect(ms(5), s, Seq(1)).unwrap();
    let commands = drain(&mut t);
    assert_eq!(
        finishes(&commands),
        [(a, Outcome::Confirmed { attempts: 1, latency: Duration::from_millis(5) })]
    );
    assert_eq!(transmissions(&commands), [(b, Seq(1), 2)]);
    assert!(t.stream_info(s).unwrap().connected);
}

#[test]
fn a_second_disconnect_is_a_no_op() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), U).unwrap();
    let e = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    t.handle_disconnect(ms(1), s).unwrap();
    assert_unchanged(
        &mut t,
        &[e],
        &[s],
        |_| {},
        |t| {
            assert_eq!(t.handle_disconnect(ms(1), s), Ok(()));
        },
    );
}

#[test]
fn a_resume_point_beyond_anything_sent_is_refused_and_changes_nothing() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), U).unwrap();
    let e = submit(&mut t, ms(0), s, 1);
    let _ = drain(&mut t);
    t.handle_disconnect(ms(1), s).unwrap();
    assert_unchanged(
        &mut t,
        &[e],
        &[s],
        |_| {},
        |t| {
            assert_eq!(
                t.handle_connect(ms(2), s, Seq(2)),
                Err(ConnectError::ResumeBeyondSent { resume: Seq(2), next: Seq(1) })
            );
        },
    );
    assert!(!t.stream_info(s).unwrap().connected);
}

#[test]
fn a_resume_below_an_abandoned_seq_is_told_to_skip_it() {
    let mut t = tracker(config());
    let s = t.open_stream(ms(0), U).unwrap();
    let a = submit(&mut t, ms(0), s, 1);
    let _b = submit(&mut t, ms(0), s, 2);
    t.cancel(ms(1), a).unwrap();
    let _ = drain(&mut t);
    t.handle_disconnect(ms(2), s).unwrap();
    // The client never saw the first skip: it resumes at 0.
    t.handle_connect(ms(3), s, Seq(0)).unwrap();
    let commands = drain(&mut t);
    assert_eq!(skips(&commands), [(s, SeqRange::new(0, 1))]);
}
