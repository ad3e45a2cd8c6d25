//! Writes the `wire_decode` seed corpus: every frame kind in both encodings,
//! with the mode byte the target expects (`fuzz/src/wire_decode.rs`).
//!
//! `cargo run --manifest-path fuzz/Cargo.toml --example wire_seeds`

use acktrack::{
    Ack, Echo, EventFrame, Frame, HelloFrame, NakFrame, ProgressFrame, Seq, SeqRange, SkipFrame,
    StreamId,
};
use core::time::Duration;

fn main() -> std::io::Result<()> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/wire_decode");
    std::fs::create_dir_all(dir)?;
    let stream = StreamId::from_bits((3 << 32) | 1);
    let frames: Vec<(&str, Frame<String>)> = vec![
        (
            "event",
            Frame::Event(EventFrame {
                stream,
                seq: Seq(5),
                attempt: 2,
                floor: Seq(3),
                payload: "agent_thinking".into(),
            }),
        ),
        (
            "ack",
            Frame::Ack(Ack {
                stream,
                cumulative: Seq(4),
                ranges: vec![SeqRange::new(6, 8), SeqRange::new(9, 10)],
                echo: Some(Echo { seq: Seq(9), attempt: 1 }),
            }),
        ),
        ("skip", Frame::Skip(SkipFrame { stream, seqs: SeqRange::new(2, 4), floor: Seq(4) })),
        ("hello", Frame::Hello(HelloFrame { stream, resume: Seq(7) })),
        ("nak", Frame::Nak(NakFrame { stream, seq: Seq(1), delay: Duration::from_millis(250) })),
        ("progress", Frame::Progress(ProgressFrame { stream, seq: Seq(1) })),
    ];
    for (name, frame) in frames {
        // Mode byte: bit 0 = binary, bits 1-2 = payload type (1: String).
        let mut json = vec![0b010];
        json.extend(frame.to_json().expect("encodes").into_bytes());
        std::fs::write(format!("{dir}/{name}.json"), json)?;
        let mut binary = vec![0b011];
        binary.extend(frame.to_binary().expect("encodes"));
        std::fs::write(format!("{dir}/{name}.bin"), binary)?;
    }
    Ok(())
}
