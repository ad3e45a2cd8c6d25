//! A simulated AI agent: each run submits `agent_started`, then per step some
//! `agent_thinking` progress events (conflated: a newer one supersedes an older
//! one still pending), `tool_executing` and `tool_completed`, and finally
//! `agent_completed`.

use std::time::Duration;

use acktrack::{StreamId, SubmitError, SubmitOptions, UserId};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::shard::Input;

/// What kind of agent event a payload is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The run began.
    AgentStarted,
    /// Progress text; conflated per run when the run asks for it.
    AgentThinking,
    /// A tool call began.
    ToolExecuting,
    /// A tool call returned.
    ToolCompleted,
    /// The run ended.
    AgentCompleted,
}

/// The payload of every event the demo sends (the `payload` of an event frame).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentEvent {
    /// The run it belongs to (unique per server).
    pub run: u64,
    /// Its position in the run, from 0.
    pub index: u32,
    /// What happened.
    pub kind: EventKind,
    /// Human-readable text.
    pub text: String,
}

/// How a run is shaped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub struct RunSpec {
    /// Tool steps.
    pub steps: u32,
    /// `agent_thinking` events before each tool call.
    pub thinking: u32,
    /// Pause before each event, milliseconds.
    pub pace_ms: u64,
    /// Whether `agent_thinking` events carry a conflation key.
    pub conflate: bool,
}

impl RunSpec {
    /// The most events one run may have (a run is an HTTP request's worth of work).
    pub const EVENTS_MAX: u64 = 10_000;

    /// Events the run submits.
    pub fn events(&self) -> u64 {
        2 + u64::from(self.steps) * (u64::from(self.thinking) + 2)
    }

    /// The run's events in order, with whether each is conflated.
    pub fn plan(&self, run: u64) -> Vec<(AgentEvent, bool)> {
        const TOOLS: [(&str, &str); 4] = [
            ("search", "\"acktrack sans-io tracker\""),
            ("read_file", "core/src/tracker/mod.rs"),
            ("run_tests", "cargo test -p acktrack"),
            ("fetch_docs", "PROTOCOL.md#the-clients-rules"),
        ];
        let mut out = Vec::with_capacity(usize::try_from(self.events()).unwrap_or(0));
        let mut push = |kind, text: String, conflated| {
            let index = out.len() as u32;
            out.push((AgentEvent { run, index, kind, text }, conflated));
        };
        push(EventKind::AgentStarted, format!("run {run}: {} tool steps", self.steps), false);
        for step in 0..self.steps {
            let (tool, arg) = TOOLS[step as usize % TOOLS.len()];
            for pass in 0..self.thinking {
                let text = format!("step {}: thinking ({}/{})…", step + 1, pass + 1, self.thinking);
                push(EventKind::AgentThinking, text, self.conflate);
            }
            push(EventKind::ToolExecuting, format!("{tool}({arg})"), false);
            push(
                EventKind::ToolCompleted,
                format!("{tool} → ok ({} results)", 3 + step % 5),
                false,
            );
        }
        push(EventKind::AgentCompleted, format!("run {run} done"), false);
        out
    }
}

/// Submits a run's events to the shard that owns the stream, one per `pace`.
/// A submit over a cap is retried after a pause (bounded); a stream that is
/// gone ends the run.
pub(crate) async fn run(
    shard: mpsc::Sender<Input>,
    user: UserId,
    stream: StreamId,
    run: u64,
    spec: RunSpec,
) {
    const BACKPRESSURE_TRIES_MAX: u32 = 100;
    let pace = Duration::from_millis(spec.pace_ms);
    for (event, conflated) in spec.plan(run) {
        if !pace.is_zero() {
            tokio::time::sleep(pace).await;
        }
        let options =
            if conflated { SubmitOptions::conflated(run) } else { SubmitOptions::default() };
        let mut event = event;
        for _ in 0..BACKPRESSURE_TRIES_MAX {
            let (reply, answer) = oneshot::channel();
            let input = Input::Submit { user, stream, event, options, reply };
            if shard.send(input).await.is_err() {
                return; // the server is shutting down
            }
            match answer.await {
                Ok(Ok(())) => break,
                // Over a cap: the payload came back; wait for room.
                Ok(Err((
                    SubmitError::StreamQueueFull { .. }
                    | SubmitError::UserPendingFull { .. }
                    | SubmitError::GlobalPendingFull { .. },
                    back,
                ))) => {
                    event = back;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                // The stream is closed or not this user's: the run is over.
                Ok(Err(_)) | Err(_) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_has_the_announced_number_of_events_in_index_order() {
        let spec = RunSpec { steps: 66, thinking: 1, pace_ms: 0, conflate: false };
        let plan = spec.plan(7);
        assert_eq!(plan.len() as u64, spec.events());
        assert_eq!(plan.len(), 200);
        assert!(plan.iter().enumerate().all(|(i, (e, _))| e.index as usize == i && e.run == 7));
        assert_eq!(plan[0].0.kind, EventKind::AgentStarted);
        assert_eq!(plan[199].0.kind, EventKind::AgentCompleted);
        assert!(plan.iter().all(|(_, conflated)| !conflated));
        let conflating = RunSpec { conflate: true, thinking: 3, ..spec };
        let thinking = conflating.plan(1).iter().filter(|(_, c)| *c).count();
        assert_eq!(thinking, 66 * 3);
    }
}
