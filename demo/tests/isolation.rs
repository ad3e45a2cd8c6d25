//! Users are kept apart and bad input is contained: a client holding another
//! user's token cannot confirm, hijack or extend that user's stream; bad
//! frames close only the offender's socket, are counted against the
//! offender, and leave other users' runs untouched.

mod support;

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::Duration;

use acktrack::{Ack, Delivery, Echo, Frame, HelloFrame, NakFrame, ProgressFrame, Seq};
use support::{
    close_code, connect, counter, follow, http, next_frame, open_stream, send_frame, start_run,
    start_server, token, wait_for,
};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn a_client_with_another_users_token_confirms_nothing() {
    let server = start_server(2, false).await;
    let addr = server.addr();
    let (alice, mallory) = (1, 2);

    // Alice's client says hello and receives a whole run, but does not ack yet.
    let stream = open_stream(addr, alice).await;
    let mut alice_ws = connect(addr, alice).await;
    send_frame(&mut alice_ws, HelloFrame { stream, resume: Seq(0) }.into()).await;
    let events = start_run(addr, alice, stream, 2, 2, 0).await;
    assert_eq!(events, 10);
    let mut last = None;
    while last.is_none_or(|(seq, _)| seq < Seq(9)) {
        if let Frame::Event(e) = next_frame(&mut alice_ws).await {
            last = Some((e.seq, e.attempt));
        }
    }
    let (seq, attempt) = last.unwrap();

    // Mallory has a valid token of her own and knows Alice's stream id.
    let mut mallory_ws = connect(addr, mallory).await;
    let forged = Ack::cumulative(stream, Seq(10), Echo { seq, attempt });
    send_frame(&mut mallory_ws, forged.clone().into()).await;
    let nak = NakFrame { stream, seq: Seq(3), delay: Duration::ZERO };
    send_frame(&mut mallory_ws, nak.into()).await;
    send_frame(&mut mallory_ws, ProgressFrame { stream, seq: Seq(4) }.into()).await;
    // A hello would attach Alice's stream to Mallory's socket: refused, socket closed.
    send_frame(&mut mallory_ws, HelloFrame { stream, resume: Seq(10) }.into()).await;
    assert_eq!(close_code(&mut mallory_ws).await, Some(4404));
    // Nor can she start runs on it.
    let path = format!("/api/runs?token={}&stream={}", token(mallory), stream.to_bits());
    assert_eq!(http(addr, "POST", &path).await.0, 404);

    let m = wait_for(addr, |m| counter(m, Some(mallory), "driver", "hellos_rejected") == 1).await;
    assert_eq!(
        counter(&m, Some(alice), "tracker", "confirmed"),
        0,
        "Mallory confirmed Alice's events"
    );
    assert_eq!(counter(&m, Some(alice), "tracker", "in_flight"), 10);
    assert_eq!(
        counter(&m, Some(alice), "tracker", "acks_rejected"),
        0,
        "charged to the wrong user"
    );
    assert_eq!(counter(&m, Some(alice), "tracker", "naks"), 0);
    // The tracker counts them globally (Mallory has no stream, so it keeps
    // no per-user record of her); the driver charges them to her.
    assert_eq!(counter(&m, None, "tracker", "acks_rejected"), 3);
    assert_eq!(counter(&m, Some(mallory), "driver", "acks_rejected"), 3);
    assert_eq!(counter(&m, Some(mallory), "tracker", "submitted"), 0);

    // The very same ack from Alice's own socket confirms everything.
    send_frame(&mut alice_ws, forged.into()).await;
    let m = wait_for(addr, |m| counter(m, Some(alice), "tracker", "confirmed") == 10).await;
    assert_eq!(counter(&m, Some(alice), "tracker", "finished"), 10);
    server.shutdown();
}

#[tokio::test]
async fn bad_frames_close_only_the_offenders_socket_and_are_counted() {
    let server = start_server(3, false).await;
    let addr = server.addr();
    let (honest, offender) = (1, 2);

    // An honest user's run goes on throughout.
    let stream = open_stream(addr, honest).await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let url = format!("ws://{addr}/ws?token={}", token(honest));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let progress = Arc::new(AtomicUsize::new(0));
    let client = tokio::spawn(follow(url, stream, stop_rx, progress, deadline));
    let events = start_run(addr, honest, stream, 10, 1, 5).await;

    // Each bad input on its own socket of the offender: (message, close code).
    let event = r#"{"type":"event","stream":"0","seq":0,"attempt":1,"floor":0,"payload":{}}"#;
    let cases: [(Message, Option<u16>); 6] = [
        (Message::Text("not json".into()), Some(1007)),
        (Message::Text(r#"{"type":"launch","stream":"0"}"#.into()), Some(1007)),
        (Message::Text(r#"{"type":"ack","stream":"0"}"#.into()), Some(1007)),
        (Message::Text(event.into()), Some(1008)),
        (Message::Binary(vec![1, 2, 3].into()), Some(1003)),
        (
            Message::Text(
                format!("{{\"type\":\"ack\",\"pad\":\"{}\"}}", "x".repeat(100_000)).into(),
            ),
            Some(1009),
        ),
    ];
    for (message, expected) in cases {
        let mut ws = connect(addr, offender).await;
        futures_util::SinkExt::send(&mut ws, message).await.unwrap();
        assert_eq!(close_code(&mut ws).await, expected);
    }
    // Over the WebSocket layer's own limit (256 KiB): cut off before it is buffered.
    let mut ws = connect(addr, offender).await;
    let huge = Message::Text("y".repeat(300_000).into());
    let _ = futures_util::SinkExt::send(&mut ws, huge).await;
    let _ = close_code(&mut ws).await;
    // A token nobody has gets no socket at all.
    let bad = format!("ws://{addr}/ws?token=nobody");
    assert!(tokio_tungstenite::connect_async(bad).await.is_err());

    let m = wait_for(addr, |m| {
        counter(m, Some(honest), "tracker", "confirmed") == events
            && counter(m, Some(offender), "driver", "connections_open") == 0
    })
    .await;
    let bad = |name| counter(&m, Some(offender), "driver", name);
    assert_eq!(bad("frames_malformed"), 3);
    assert_eq!(bad("frames_unexpected"), 2);
    assert_eq!(bad("frames_oversized"), 2);
    assert_eq!(bad("connections"), 7);
    assert_eq!(m["global"]["auth_failures"], 1);
    for name in ["frames_malformed", "frames_unexpected", "frames_oversized", "hellos_rejected"] {
        assert_eq!(
            counter(&m, Some(honest), "driver", name),
            0,
            "{name} charged to the honest user"
        );
    }
    assert_eq!(counter(&m, Some(honest), "tracker", "finished"), events);

    stop_tx.send(true).unwrap();
    let seen = client.await.unwrap();
    assert_eq!(seen.deliveries.len() as u64, events);
    assert!(seen.deliveries.iter().all(|d| matches!(d, Delivery::Event { .. })));
    server.shutdown();
}
