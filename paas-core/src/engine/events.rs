//! An app's events as a stream: its history, then live events as they are appended.

use super::platform::Platform;
use crate::Result;
use crate::model::{AppId, Event, OrgId};
use futures::Stream;
use std::collections::VecDeque;

const PAGE: u32 = 500;

impl Platform {
    /// An app's events from the first: its history, then live events as they happen, in
    /// `seq` order, without end (drop the stream to stop). Live events written by other
    /// processes sharing the store arrive within one poll interval; those of this process at
    /// once. The shape a server-sent-events endpoint needs (`seq` is the event id).
    ///
    /// ```no_run
    /// # async fn demo(platform: paas_core::engine::Platform, org: paas_core::model::OrgId, app: paas_core::model::AppId) -> paas_core::Result<()> {
    /// use futures::StreamExt;
    /// let mut events = Box::pin(platform.events(org, app).await?);
    /// while let Some(event) = events.next().await {
    ///     let event = event?;
    ///     println!("{} [{}] {}", event.seq, event.step, event.message);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn events(
        &self,
        org: OrgId,
        app: AppId,
    ) -> Result<impl Stream<Item = Result<Event>> + Send + 'static> {
        self.events_after(org, app, 0).await
    }

    /// Like [`Platform::events`], starting after `seq` (an SSE client's `Last-Event-ID`).
    pub async fn events_after(
        &self,
        org: OrgId,
        app: AppId,
        after: u64,
    ) -> Result<impl Stream<Item = Result<Event>> + Send + 'static> {
        // Checks the app belongs to `org` before anything streams.
        self.store().get_app(org, app).await?;
        let state = (self.clone(), after, VecDeque::<Event>::new(), false);
        Ok(futures::stream::unfold(
            state,
            move |(p, mut last, mut buf, failed)| async move {
                if failed {
                    return None;
                }
                loop {
                    if let Some(e) = buf.pop_front() {
                        last = e.seq;
                        return Some((Ok(e), (p, last, buf, false)));
                    }
                    match p.store().list_events(org, app, last, PAGE).await {
                        Ok(page) if !page.is_empty() => buf.extend(page),
                        Ok(_) => p.nap().await,
                        // Report the error once, then end: the client reconnects with its last seq.
                        Err(e) => return Some((Err(e), (p, last, buf, true))),
                    }
                }
            },
        ))
    }
}
