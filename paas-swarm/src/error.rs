//! The one table from Docker's errors to the SDK's [`Error`], and the engine version check.

use bollard::errors::Error as DockerError;
use paas_core::{Error, ErrorKind};
use std::fmt::Display;

/// The backend name every error of this crate carries.
pub const BACKEND: &str = "swarm";

/// The oldest Docker Engine API version this crate speaks (Docker Engine 20.10).
///
/// Older engines lack fields the service specs use (`Init`, health-check `StartPeriod`,
/// `Order` on update and rollback configs) or report them differently.
pub const MIN_API_VERSION: (u32, u32) = (1, 41);

/// Translates a Docker error, met while `doing` something, into the SDK's [`Error`].
///
/// The one place that decides kinds and retryability:
/// - `update out of sequence` (a concurrent write bumped the service version): `Conflict`,
///   retryable;
/// - 404: `NotFound`; 409: `Conflict`; 400: `InvalidInput`; 401: `Unauthorized`;
/// - 403: `Conflict` (the engine forbids the call in the object's current state, e.g. a network
///   with active endpoints);
/// - 503 and every other 5xx, broken connections, missing socket: `Unavailable`, retryable;
/// - client-side timeouts: `Timeout`; unreadable answers and anything else: `Backend`.
pub fn map_docker_error(err: DockerError, doing: impl Display) -> Error {
    let (kind, retryable, detail) = classify(&err);
    Error::new(kind, format!("{doing}: {detail}"))
        .retryable(retryable)
        .with_backend(BACKEND)
        .with_source(err)
}

fn classify(err: &DockerError) -> (ErrorKind, bool, String) {
    match err {
        DockerError::DockerResponseServerError {
            status_code,
            message,
        } => {
            let detail = format!("the engine answered {status_code}: {message}");
            if is_out_of_sequence(message) {
                return (
                    ErrorKind::Conflict,
                    true,
                    format!("{detail} (another client changed the service meanwhile; retry)"),
                );
            }
            match status_code {
                404 => (ErrorKind::NotFound, false, detail),
                409 | 403 => (ErrorKind::Conflict, false, detail),
                400 => (ErrorKind::InvalidInput, false, detail),
                401 => (ErrorKind::Unauthorized, false, detail),
                503 if message.contains("not a swarm manager") => (
                    ErrorKind::Unavailable,
                    true,
                    format!(
                        "{detail} (put the engine in swarm mode with `docker swarm init`, or \
                         connect to a manager node)"
                    ),
                ),
                s if *s >= 500 => (ErrorKind::Unavailable, true, detail),
                _ => (ErrorKind::Backend, false, detail),
            }
        }
        DockerError::RequestTimeoutError => (
            ErrorKind::Timeout,
            true,
            "the Docker engine did not answer in time".to_owned(),
        ),
        DockerError::IOError { .. }
        | DockerError::HyperResponseError { .. }
        | DockerError::HttpClientError { .. }
        | DockerError::HyperLegacyError { .. }
        | DockerError::SocketNotFoundError(_) => (
            ErrorKind::Unavailable,
            true,
            format!("cannot reach the Docker engine ({err}); is dockerd running?"),
        ),
        DockerError::JsonDataError { .. }
        | DockerError::JsonSerdeError { .. }
        | DockerError::APIVersionParseError {} => (
            ErrorKind::Backend,
            false,
            format!("the engine's answer could not be read: {err}"),
        ),
        other => (ErrorKind::Backend, false, other.to_string()),
    }
}

/// True for the engine's "the version you sent is stale" answer to a service update.
pub(crate) fn is_out_of_sequence(message: &str) -> bool {
    message.contains("update out of sequence")
}

/// Parses an API version such as `1.41`.
fn parse_api_version(version: &str) -> Option<(u32, u32)> {
    let (major, minor) = version.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Refuses an engine whose API version is older than [`MIN_API_VERSION`].
///
/// ```
/// use paas_swarm::check_api_version;
/// assert!(check_api_version("1.41").is_ok());
/// assert!(check_api_version("1.53").is_ok());
/// assert!(check_api_version("1.40").is_err());
/// ```
pub fn check_api_version(server: &str) -> paas_core::Result<()> {
    let (min_major, min_minor) = MIN_API_VERSION;
    let Some(found) = parse_api_version(server) else {
        return Err(Error::backend_error(format!(
            "the Docker engine reported API version '{}', which is not of the form MAJOR.MINOR",
            server.escape_debug()
        ))
        .with_backend(BACKEND));
    };
    if found < MIN_API_VERSION {
        return Err(Error::new(
            ErrorKind::Unavailable,
            format!(
                "the Docker engine speaks API {}.{}, older than the {min_major}.{min_minor} \
                 (Docker Engine 20.10) this SDK needs: upgrade the engine",
                found.0, found.1
            ),
        )
        .retryable(false)
        .with_backend(BACKEND));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(status_code: u16, message: &str) -> DockerError {
        DockerError::DockerResponseServerError {
            status_code,
            message: message.to_owned(),
        }
    }

    #[test]
    fn statuses_map_to_kinds() {
        let e = map_docker_error(server(404, "service x not found"), "inspecting service 'x'");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(!e.is_retryable());
        assert_eq!(e.backend(), Some("swarm"));
        assert!(e.message().starts_with("inspecting service 'x': "));
        assert!(e.message().contains("service x not found"));

        assert_eq!(
            map_docker_error(server(409, "exists"), "c").kind(),
            ErrorKind::Conflict
        );
        assert_eq!(
            map_docker_error(server(400, "bad"), "c").kind(),
            ErrorKind::InvalidInput
        );
        let e = map_docker_error(server(500, "boom"), "c");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_retryable());
        let e = map_docker_error(server(503, "This node is not a swarm manager."), "c");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.message().contains("docker swarm init"));
    }

    #[test]
    fn out_of_sequence_is_a_retryable_conflict_whatever_the_status() {
        for status in [500, 400, 409] {
            let e = map_docker_error(
                server(
                    status,
                    "rpc error: code = Unknown desc = update out of sequence",
                ),
                "updating service 'x'",
            );
            assert_eq!(e.kind(), ErrorKind::Conflict);
            assert!(e.is_retryable(), "status {status}");
        }
    }

    #[test]
    fn transport_errors_are_retryable_unavailable() {
        let e = map_docker_error(
            DockerError::SocketNotFoundError("/var/run/docker.sock".into()),
            "listing services",
        );
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_retryable());
        let e = map_docker_error(DockerError::RequestTimeoutError, "listing services");
        assert_eq!(e.kind(), ErrorKind::Timeout);
    }

    #[test]
    fn api_version_check_refuses_old_and_garbage() {
        assert!(check_api_version("1.41").is_ok());
        assert!(check_api_version("1.53").is_ok());
        assert!(check_api_version("2.0").is_ok());
        let old = check_api_version("1.40").unwrap_err();
        assert_eq!(old.kind(), ErrorKind::Unavailable);
        assert!(!old.is_retryable());
        assert!(old.message().contains("1.40"));
        assert!(old.message().contains("1.41"));
        assert!(check_api_version("1.9").is_err());
        assert_eq!(
            check_api_version("banana").unwrap_err().kind(),
            ErrorKind::Backend
        );
        assert!(check_api_version("").is_err());
    }
}
