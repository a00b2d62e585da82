import ArgumentParser
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import TollgateCore
import TollgateGateway
import TollgateX402

/// The bare paid path of `tollgate bench-bare-402` (see there): verify, settle, forward, with nothing in between.
struct BarePaidPath: Sendable {
    static let header = HTTPField.Name("PAYMENT-SIGNATURE")!
    static let paymentResponse = HTTPField.Name("PAYMENT-RESPONSE")!
    static let logger = Logger(label: "tollgate.bench-bare")

    /// The gateway's own upstream client, for the same reason.
    let upstream: HTTPUpstream
    /// `,"paymentRequirements":{…}}`: the first requirements of the copied 402's `PAYMENT-REQUIRED`, spliced after each
    /// payload. The development facilitator compares network, asset, amount and payee with the payload's, which the
    /// route's offers share.
    let requirementsTail: [UInt8]
    /// The gateway's own facilitator client, so that the yardstick pays what the gateway pays per call.
    let facilitator: HTTPFacilitator

    init(facilitator: String, upstream: String, offered: HTTPFields) throws {
        self.facilitator = HTTPFacilitator(baseURL: facilitator, timeout: .seconds(30))
        self.upstream = HTTPUpstream(baseURL: upstream, timeoutSeconds: 30, maxResponseBytes: 64 << 20)
        guard let header = offered[HTTPField.Name("PAYMENT-REQUIRED")!], let decoded = Data(base64Encoded: header),
              let terms = try JSONSerialization.jsonObject(with: decoded) as? [String: Any],
              let accepts = terms["accepts"] as? [Any], let first = accepts.first
        else { throw ValidationError("the copied 402 has no requirements") }
        let requirements = try JSONSerialization.data(withJSONObject: first)
        requirementsTail = Array(#","paymentRequirements":"#.utf8) + Array(requirements) + [UInt8(ascii: "}")]
    }

    func serve(_ request: Request, payment: String) async -> Response {
        guard let payload = Data(base64Encoded: payment) else { return Response(status: .badRequest) }
        let body = X402.FacilitatorRequest(body: Array(#"{"x402Version":2,"paymentPayload":"#.utf8) + payload + requirementsTail)
        do {
            guard try await facilitator.verify(body, logger: Self.logger).isValid else { return Response(status: .init(code: 402)) }
            let settled = try await facilitator.settle(body, logger: Self.logger)
            guard settled.success else { return Response(status: .init(code: 402)) }
            let answer = try await upstream.send(UpstreamRequest(method: .get, target: request.uri.path, headerFields: [:], body: []))
            var headers = HTTPFields()
            headers[.contentType] = answer.headerFields[.contentType] ?? "application/octet-stream"
            headers[Self.paymentResponse] = Data(#"{"success":true,"transaction":"\#(settled.transaction)","network":"\#(settled.network)"}"#.utf8).base64EncodedString()
            return Response(status: answer.status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
        } catch {
            return Response(status: .badGateway)
        }
    }
}
