//! One WebSocket connection of one authenticated user.
//!
//! The reader decodes each client message with `Frame::from_json` under
//! `DecodeLimits` and forwards it to the user's shard tagged with this
//! connection's user (never a user the client names), so a client can only
//! ever act as itself. The writer drains the queue the shard pushes frames
//! into. Bad input closes the socket with a close code and is counted:
//!
//! | input | close code |
//! | --- | --- |
//! | not a frame (bad JSON, unknown type, missing field) | 1007 invalid payload |
//! | over the frame or payload size limit | 1009 message too big |
//! | a server-to-client frame (event, skip) | 1008 policy violation |
//! | a binary message (the demo speaks JSON) | 1003 unsupported data |
//! | hello for a stream that is unknown or not the user's | 4404 |
//! | hello resuming beyond anything sent | 1008 |
//!
//! An ack, nak or progress report the tracker rejects (another user's stream,
//! a seq never sent, malformed ranges) is ignored and counted, as the
//! protocol says; the socket stays open.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use acktrack::{DecodeError, DecodeLimits, Frame, UserId};
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde::de::IgnoredAny;
use tokio::sync::{Notify, mpsc};

use crate::Shared;
use crate::shard::Input;

/// A connection's id, unique per server.
pub(crate) type ConnId = u64;

/// Close code: the client named a stream it may not use.
pub(crate) const CLOSE_UNKNOWN_STREAM: u16 = 4404;
/// Close code 1008, policy violation.
pub(crate) const CLOSE_POLICY: u16 = 1008;
const CLOSE_UNSUPPORTED: u16 = 1003;
const CLOSE_INVALID: u16 = 1007;
const CLOSE_TOO_BIG: u16 = 1009;

/// The WebSocket layer's own message limit: anything bigger is cut off there,
/// before it is buffered whole. Frames between the decoder's limit and this
/// are read, refused by the decoder and answered with 1009.
pub(crate) const WS_MESSAGE_MAX: usize = 256 * 1024;

/// Frames queued for one socket before the shard starts dropping them.
const OUTBOUND_QUEUE: usize = 1024;

/// Why a client frame was refused before reaching the tracker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BadFrame {
    /// It does not decode.
    Malformed,
    /// It is over a size limit.
    Oversized,
    /// A server-to-client kind, or binary.
    Unexpected,
}

/// Serves one upgraded socket of `user` until it closes, fails or is killed.
pub(crate) async fn serve(socket: WebSocket, user: UserId, shared: Arc<Shared>) {
    let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
    let shard = shared.shard(user).clone();
    let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
    let kill = Arc::new(Notify::new());
    let connected = Input::Connected { user, conn, tx: tx.clone(), kill: kill.clone() };
    if shard.send(connected).await.is_err() {
        return;
    }
    let (sink, mut stream) = socket.split();
    let mut writer = tokio::spawn(write_loop(sink, rx));
    let mut clean = false;
    let mut closing = false;
    // Bounded by the socket: each turn reads one message, and the loop ends
    // when the peer closes, the socket fails, the writer stops or a kill comes.
    loop {
        tokio::select! {
            biased;
            () = kill.notified() => {
                writer.abort(); // drops the socket without a close frame
                break;
            }
            _ = &mut writer => break, // it sent a close frame, or the socket failed
            message = stream.next() => {
                let Some(Ok(message)) = message else {
                    if let Some(Err(e)) = message {
                        if is_capacity(&e) {
                            let _ = shard.send(Input::BadFrame { user, what: BadFrame::Oversized }).await;
                        }
                    }
                    break;
                };
                if closing {
                    continue; // a close is on its way; read until the peer answers
                }
                let refused = match message {
                    Message::Text(text) => match decode(text.as_bytes()) {
                        Ok(frame) => {
                            if shard.send(Input::Frame { user, conn, frame }).await.is_err() {
                                break;
                            }
                            None
                        }
                        Err(refused) => Some(refused),
                    },
                    Message::Binary(_) => Some((BadFrame::Unexpected, CLOSE_UNSUPPORTED, "binary frames are not supported")),
                    Message::Close(frame) => {
                        // 1000 (normal) or 1001 (going away, a tab closing): the
                        // client is done with its streams.
                        clean = frame.is_some_and(|f| f.code == 1000 || f.code == 1001);
                        break;
                    }
                    Message::Ping(_) | Message::Pong(_) => None,
                };
                if let Some((what, code, reason)) = refused {
                    let _ = shard.send(Input::BadFrame { user, what }).await;
                    let close = Message::Close(Some(CloseFrame { code, reason: reason.into() }));
                    let _ = tx.send(close).await;
                    closing = true;
                }
            }
        }
    }
    // The writer may still be flushing a close frame: give it a moment.
    if !writer.is_finished() {
        let _ = tokio::time::timeout(Duration::from_millis(500), &mut writer).await;
        writer.abort();
    }
    let _ = shard.send(Input::Disconnected { user, conn, clean }).await;
}

/// Decodes a client frame; a refusal carries the counter, close code and reason.
fn decode(bytes: &[u8]) -> Result<Frame<IgnoredAny>, (BadFrame, u16, &'static str)> {
    match Frame::<IgnoredAny>::from_json(bytes, DecodeLimits::default()) {
        Ok(Frame::Event(_) | Frame::Skip(_)) => {
            Err((BadFrame::Unexpected, CLOSE_POLICY, "clients do not send event or skip frames"))
        }
        Ok(frame) => Ok(frame),
        Err(DecodeError::FrameTooLarge { .. } | DecodeError::PayloadTooLarge { .. }) => {
            Err((BadFrame::Oversized, CLOSE_TOO_BIG, "frame too large"))
        }
        Err(_) => Err((BadFrame::Malformed, CLOSE_INVALID, "malformed frame")),
    }
}

/// Whether a socket error is the WebSocket layer's message size limit.
fn is_capacity(e: &axum::Error) -> bool {
    // axum wraps tungstenite's error; its text names the capacity problem.
    let text = e.to_string();
    text.contains("Space limit exceeded") || text.contains("too long") || text.contains("Capacity")
}

/// Writes queued frames until a close frame is written, the socket fails, or
/// the queue's senders are gone.
async fn write_loop(
    mut sink: futures_util::stream::SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Message>,
) {
    while let Some(message) = rx.recv().await {
        let is_close = matches!(message, Message::Close(_));
        if sink.send(message).await.is_err() || is_close {
            break;
        }
    }
}
