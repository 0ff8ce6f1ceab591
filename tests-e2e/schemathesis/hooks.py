"""Schemathesis hooks for tests-e2e/tests/gateway_schema.rs (loaded through SCHEMATHESIS_HOOKS).

getPossibleLoyalty speaks JSON and, with `Content-Type: text/xml`, seed 003's SOAP 1.1 at the same
path. SOAP 1.1 (section 6.2) answers a fault with HTTP 500: every request that is not seed 003's
envelope (all that the fuzzer writes) gets a `soap:Client` Fault with status 500, by design (see
docs/gateway.md). `not_a_server_error` would report each of them, so exactly that answer is
accepted: a text/xml request, answered 500 with a text/xml SOAP `soap:Client` Fault. Any other 5xx
of the SOAP form (a `soap:Server` fault, an envelope answer, a crash) is still a failure, and the
JSON form of the operation is checked as every other operation is.
"""

import schemathesis
from schemathesis.core.failures import ServerError

SOAP_CLIENT_FAULT = b"<faultcode>soap:Client</faultcode>"


def _media_type(value):
    return (value or "").split(";", 1)[0].strip().lower()


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Keeps every failure except a SOAP request's documented soap:Client Fault (HTTP 500)."""
    is_soap_fault = (
        isinstance(failure, ServerError)
        and _media_type(case.media_type) == "text/xml"
        and response.status_code == 500
        and _media_type(response.headers.get("content-type", [""])[0]) == "text/xml"
        and b"<soap:Fault>" in response.content
        and SOAP_CLIENT_FAULT in response.content
    )
    return not is_soap_fault
