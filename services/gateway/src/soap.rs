//! Seed 003's SOAP form of getPossibleLoyalty: the request envelope
//! (`getAvailableLoyalty` with `arg0` in namespace
//! `http://engine.paymentgate.ru/webservices/merchant/loyalty`) read with
//! quick-xml, and the response envelope written in the seed's structure.

use quick_xml::escape::escape;
use quick_xml::events::Event;

/// The loyalty web service's namespace.
pub const LOYALTY_NS: &str = "http://engine.paymentgate.ru/webservices/merchant/loyalty";
/// SOAP 1.1's envelope namespace.
pub const SOAP_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// Longest text of one request field read (the seed's longest is 255).
const MAX_FIELD: usize = 512;

/// The request's `arg0`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PossibleLoyaltyArgs {
    /// `orderId`.
    pub order_id: String,
    /// `language`.
    pub language: String,
    /// `bindingId`.
    pub binding_id: String,
    /// `pan` (never logged).
    pub pan: String,
}

impl std::fmt::Debug for PossibleLoyaltyArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PossibleLoyaltyArgs")
            .field("order_id", &self.order_id)
            .field("language", &self.language)
            .field("binding_id", &"<hidden>")
            .field("pan", &"<hidden>")
            .finish()
    }
}

/// Why a SOAP request was not understood.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SoapError {
    /// Not well-formed XML.
    #[error("the request is not well-formed XML: {0}")]
    Malformed(String),
    /// No `getAvailableLoyalty` element in the body.
    #[error("the body holds no getAvailableLoyalty")]
    NoOperation,
    /// A field longer than the gateway reads.
    #[error("{0} is longer than {MAX_FIELD} characters")]
    TooLong(&'static str),
}

/// Reads the request envelope. Element names are matched by local name, so
/// any prefix (`loy1:`, `ns2:`) works.
pub fn parse_request(xml: &str) -> Result<PossibleLoyaltyArgs, SoapError> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut args = PossibleLoyaltyArgs::default();
    let mut seen_operation = false;
    let mut field: Option<&'static str> = None;
    let mut text = String::new();
    let malformed =
        |e: &dyn std::fmt::Display| SoapError::Malformed(kit::status::quote(&e.to_string()));
    loop {
        let piece = match reader.read_event().map_err(|e| malformed(&e))? {
            Event::Eof => break,
            Event::Start(e) => {
                field = match e.local_name().into_inner() {
                    "getAvailableLoyalty" => {
                        seen_operation = true;
                        None
                    }
                    "orderId" => Some("orderId"),
                    "language" => Some("language"),
                    "bindingId" => Some("bindingId"),
                    "pan" => Some("pan"),
                    _ => None,
                };
                text.clear();
                continue;
            }
            Event::End(_) => {
                if let Some(f) = field.take() {
                    let slot = match f {
                        "orderId" => &mut args.order_id,
                        "language" => &mut args.language,
                        "bindingId" => &mut args.binding_id,
                        _ => &mut args.pan,
                    };
                    *slot = text.trim().to_owned();
                }
                continue;
            }
            Event::Text(t) if field.is_some() => t.xml10_content().into_owned(),
            Event::CData(t) if field.is_some() => t.into_inner().into_owned(),
            Event::GeneralRef(r) if field.is_some() => {
                let entity = format!("&{};", r.xml10_content());
                quick_xml::escape::unescape(&entity)
                    .map_err(|e| malformed(&e))?
                    .into_owned()
            }
            _ => continue,
        };
        if let Some(f) = field {
            text.push_str(&piece);
            if text.chars().count() > MAX_FIELD {
                return Err(SoapError::TooLong(f));
            }
        }
    }
    if seen_operation {
        Ok(args)
    } else {
        Err(SoapError::NoOperation)
    }
}

/// The answer of getPossibleLoyalty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PossibleLoyalty {
    /// `0` processed, `5` access denied, `6` order not found, `7` system error.
    pub error_code: String,
    /// The error's description (empty when none).
    pub error_message: String,
    /// Fewest points (empty unless `0`).
    pub min_amount: String,
    /// Most points (empty unless `0`).
    pub max_amount: String,
    /// The program's code.
    pub service_name: String,
}

/// The response envelope, in the seed's structure.
pub fn render_response(p: &PossibleLoyalty) -> String {
    let mut out = String::with_capacity(512);
    out.push_str(&format!("<soap:Envelope xmlns:soap=\"{SOAP_NS}\">"));
    out.push_str("<soap:Body>");
    out.push_str(&format!(
        "<ns1:getAvailableLoyaltyResponse xmlns:ns1=\"{LOYALTY_NS}\">"
    ));
    out.push_str(&format!("<return errorCode=\"{}\"", escape(&p.error_code)));
    if !p.error_message.is_empty() {
        out.push_str(&format!(" errorMessage=\"{}\"", escape(&p.error_message)));
    }
    out.push('>');
    if p.error_code == "0" {
        out.push_str("<loyaltyOperations>");
        for (name, value) in [
            ("maxAmount", &p.max_amount),
            ("minAmount", &p.min_amount),
            ("serviceName", &p.service_name),
        ] {
            out.push_str(&format!("<{name}>{}</{name}>", escape(value)));
        }
        out.push_str("</loyaltyOperations>");
    }
    out.push_str("</return></ns1:getAvailableLoyaltyResponse></soap:Body></soap:Envelope>");
    out
}

/// A SOAP 1.1 fault (`soap:Client` for a request not understood).
pub fn render_fault(code: &str, message: &str) -> String {
    format!(
        "<soap:Envelope xmlns:soap=\"{SOAP_NS}\"><soap:Body><soap:Fault>\
         <faultcode>{}</faultcode><faultstring>{}</faultstring>\
         </soap:Fault></soap:Body></soap:Envelope>",
        escape(code),
        escape(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seed 003's request example, as printed.
    pub const SEED_REQUEST: &str = r#"<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:loy="http://engine.paymentgate.ru/webservices/sbrf/loyalty">
   <soapenv:Header/>
   <soapenv:Body>
      <loy1:getAvailableLoyalty xmlns:loy1="http://engine.paymentgate.ru/webservices/merchant/loyalty">
         <arg0>
            <bindingId> </bindingId>
            <language> </language>
            <orderId>3c52bbe4-777f-49b0-afb8-bb2b6a971f74</orderId>
            <pan>4276010013866254</pan>
         </arg0>
      </loy1:getAvailableLoyalty>
   </soapenv:Body>
</soapenv:Envelope>"#;

    #[test]
    fn the_seeds_request_is_read() {
        let args = parse_request(SEED_REQUEST).unwrap();
        assert_eq!(args.order_id, "3c52bbe4-777f-49b0-afb8-bb2b6a971f74");
        assert_eq!(args.pan, "4276010013866254");
        assert_eq!((args.binding_id.as_str(), args.language.as_str()), ("", ""));
    }

    #[test]
    fn the_response_has_the_seeds_structure() {
        let xml = render_response(&PossibleLoyalty {
            error_code: "0".into(),
            max_amount: "6000".into(),
            min_amount: "0".into(),
            service_name: "sbrf_spasibo".into(),
            ..PossibleLoyalty::default()
        });
        assert_eq!(
            xml,
            "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>\
             <ns1:getAvailableLoyaltyResponse xmlns:ns1=\"http://engine.paymentgate.ru/webservices/merchant/loyalty\">\
             <return errorCode=\"0\"><loyaltyOperations><maxAmount>6000</maxAmount><minAmount>0</minAmount>\
             <serviceName>sbrf_spasibo</serviceName></loyaltyOperations></return>\
             </ns1:getAvailableLoyaltyResponse></soap:Body></soap:Envelope>"
        );
    }

    #[test]
    fn bad_requests_are_told_apart() {
        assert!(matches!(
            parse_request("<a>"),
            Err(SoapError::Malformed(_)) | Err(SoapError::NoOperation)
        ));
        assert_eq!(parse_request("<x/>"), Err(SoapError::NoOperation));
        let long = format!(
            "<getAvailableLoyalty><arg0><orderId>{}</orderId></arg0></getAvailableLoyalty>",
            "a".repeat(600)
        );
        assert_eq!(parse_request(&long), Err(SoapError::TooLong("orderId")));
    }

    #[test]
    fn text_is_escaped_in_the_answer() {
        let xml = render_response(&PossibleLoyalty {
            error_code: "7".into(),
            error_message: "<&>".into(),
            ..PossibleLoyalty::default()
        });
        assert!(xml.contains("errorMessage=\"&lt;&amp;&gt;\""), "{xml}");
    }
}
