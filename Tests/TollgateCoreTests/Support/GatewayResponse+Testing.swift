import Foundation
import HTTPTypes
import TollgateCore

/// The fields of the gateway's JSON bodies (errors and terms) that the tests read.
struct ResponseBody: Decodable {
    var error: String?
    var reason: String?
    var detail: String?
    var correlationId: String?
    /// On a refusal: the flow the attached fresh offer starts.
    var offerCorrelationId: String?
    var client: String?
    var scope: String?
    var price: String?
}

extension GatewayResponse {
    var json: ResponseBody? { try? JSONDecoder().decode(ResponseBody.self, from: Data(self.body)) }
    var reason: String? { json?.reason }
    var correlationId: String? { headerFields[.tollgateCorrelationId] }
    var text: String { String(decoding: self.body, as: UTF8.self) }
    /// The offer tokens of a 402 from `ScriptedRail`.
    var offerTokens: [String] { (headerFields[ScriptedRail.termsField] ?? "").split(separator: " ").map(String.init) }
}
