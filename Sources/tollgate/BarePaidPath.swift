import ArgumentParser
import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTP1
import TollgateX402

/// The bare paid path of `tollgate bench-bare-402` (see there): verify, settle, forward, with nothing in between.
struct BarePaidPath: Sendable {
    static let header = HTTPField.Name("PAYMENT-SIGNATURE")!
    static let paymentResponse = HTTPField.Name("PAYMENT-RESPONSE")!

    let verifyURL: String
    let settleURL: String
    let upstream: String
    /// `,"paymentRequirements":{…}}`: the first requirements of the copied 402's `PAYMENT-REQUIRED`, spliced after each
    /// payload. The development facilitator compares network, asset, amount and payee with the payload's, which the
    /// route's offers share.
    let requirementsTail: [UInt8]
    let client = HTTPClient.noRedirects

    init(facilitator: String, upstream: String, offered: HTTPFields) throws {
        verifyURL = facilitator + "/verify"
        settleURL = facilitator + "/settle"
        self.upstream = upstream
        guard let header = offered[HTTPField.Name("PAYMENT-REQUIRED")!], let decoded = Data(base64Encoded: header),
              let terms = try JSONSerialization.jsonObject(with: decoded) as? [String: Any],
              let accepts = terms["accepts"] as? [Any], let first = accepts.first
        else { throw ValidationError("the copied 402 has no requirements") }
        let requirements = try JSONSerialization.data(withJSONObject: first)
        requirementsTail = Array(#","paymentRequirements":"#.utf8) + Array(requirements) + [UInt8(ascii: "}")]
    }

    func serve(_ request: Request, payment: String) async -> Response {
        guard let payload = Data(base64Encoded: payment) else { return Response(status: .badRequest) }
        var body = ByteBuffer(string: #"{"x402Version":2,"paymentPayload":"#)
        body.writeBytes(payload)
        body.writeBytes(requirementsTail)
        do {
            guard try await post(verifyURL, body).contains(#""isValid":true"#) else { return Response(status: .init(code: 402)) }
            let settled = try await post(settleURL, body)
            guard settled.contains(#""success":true"#) else { return Response(status: .init(code: 402)) }
            let answer = try await client.execute(HTTPClientRequest(url: upstream + request.uri.path), timeout: .seconds(30))
            let content = try await answer.body.collect(upTo: 64 << 20)
            var headers = HTTPFields()
            headers[.contentType] = answer.headers.first(name: "content-type") ?? "application/octet-stream"
            headers[Self.paymentResponse] = Data(settled.utf8).base64EncodedString()
            return Response(status: .init(code: Int(answer.status.code)), headers: headers, body: .init(byteBuffer: content))
        } catch {
            return Response(status: .badGateway)
        }
    }

    private func post(_ url: String, _ body: ByteBuffer) async throws -> String {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "content-type", value: "application/json")
        request.body = .bytes(body)
        let answer = try await client.execute(request, timeout: .seconds(30))
        return String(buffer: try await answer.body.collect(upTo: 1 << 20))
    }
}
