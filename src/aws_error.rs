//! Short, useful descriptions of AWS SDK errors for operator messages: the service's error code
//! and message when the service answered, the transport problem when it did not. (The SDK's own
//! `Debug`/`DisplayErrorContext` carry the whole raw response, which buries the point.)
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub fn describe<E>(e: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            match (err.code(), err.message()) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (Some(code), None) => code.to_string(),
                // No error code: a body the SDK could not read as one (a proxy's page, a
                // 413 from something in front of the service). The status says what it was.
                _ => format!(
                    "HTTP {} without an AWS error code ({err})",
                    se.raw().status().as_u16()
                ),
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_s3::operation::put_object::PutObjectError;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;
    use aws_smithy_types::error::ErrorMetadata;

    fn answered(status: u16, meta: ErrorMetadata) -> String {
        let status = StatusCode::try_from(status).expect("a status");
        let raw = HttpResponse::new(status, SdkBody::empty());
        describe(&SdkError::service_error(PutObjectError::generic(meta), raw))
    }

    #[test]
    fn a_service_answer_is_its_code_and_message_or_else_its_status() {
        let full = ErrorMetadata::builder()
            .code("AccessDenied")
            .message("no")
            .build();
        assert_eq!(answered(403, full), "AccessDenied: no");
        let code_only = ErrorMetadata::builder().code("SlowDown").build();
        assert_eq!(answered(503, code_only), "SlowDown");
        let none = answered(413, ErrorMetadata::builder().build());
        assert!(
            none.starts_with("HTTP 413 without an AWS error code"),
            "{none}"
        );
    }
}
