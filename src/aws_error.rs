//! Short, useful descriptions of AWS SDK errors for operator messages: the service's error code
//! and message when the service answered, the transport problem when it did not. (The SDK's own
//! `Debug`/`DisplayErrorContext` carry the whole raw response, which buries the point.)
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub fn describe<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            match (err.code(), err.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                _ => err.to_string(),
            }
        }
        SdkError::TimeoutError(_) => "the request timed out".to_string(),
        SdkError::DispatchFailure(_) => {
            // The innermost cause says what happened (refused connection, DNS, TLS).
            let mut text = "the request could not be sent".to_string();
            let mut source = std::error::Error::source(e);
            while let Some(s) = source {
                text = format!("the request could not be sent: {s}");
                source = s.source();
            }
            text
        }
        SdkError::ResponseError(_) => "the response could not be read".to_string(),
        SdkError::ConstructionFailure(_) => {
            format!("the request could not be built: {}", DisplayErrorContext(e))
        }
        _ => DisplayErrorContext(e).to_string(),
    }
}
