//! Small builders shared by the tests.

use lux_core::{Lux, NewSession, NewStep, ProjectId, Session, SessionRef};

pub(crate) fn new_session(tool: &str) -> NewSession {
    NewSession {
        tool: tool.to_owned(),
        ..NewSession::default()
    }
}

pub(crate) fn thought(content: &str) -> NewStep {
    NewStep {
        kind: "thought".to_owned(),
        content: content.to_owned(),
        ..NewStep::default()
    }
}

pub(crate) async fn session(lux: &Lux, tool: &str) -> (ProjectId, Session, SessionRef) {
    let project = lux.default_project();
    let session = lux
        .create_session(project, new_session(tool))
        .await
        .expect("create session")
        .value;
    let reference = SessionRef::Id(session.id);
    (project, session, reference)
}
