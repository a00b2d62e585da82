import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TollgateCore
import TollgateX402

/// A minimal x402 client over async-http-client, used by `demo` and `bench`: request, read the
/// 402's `PAYMENT-REQUIRED`, sign with the built-in payer, retry with `PAYMENT-SIGNATURE`.
struct PayingClient: Sendable {
    struct Exchange: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: String
        var correlationId: String? { headers.first(name: "Tollgate-Correlation-Id") }
        var paymentRequired: X402.PaymentRequired? {
            headers.first(name: X402.paymentRequiredHeader).flatMap { HeaderCodec.read(X402.PaymentRequired.self, header: $0) }
        }
        var paymentResponse: X402.SettleResponse? {
            headers.first(name: X402.paymentResponseHeader).flatMap { HeaderCodec.read(X402.SettleResponse.self, header: $0) }
        }
    }

    let client: HTTPClient
    let payer: ExactEVMPayer

    func get(_ url: String, headers: [(String, String)] = []) async throws -> Exchange {
        var request = HTTPClientRequest(url: url)
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 32 * 1024 * 1024)
        return Exchange(status: Int(response.status.code), headers: response.headers, body: String(buffer: body))
    }

    /// The `PAYMENT-SIGNATURE` value that pays `required`.
    func sign(_ required: X402.PaymentRequired) throws -> String {
        HeaderCodec.encode(try payer.pay(required, now: Int64(Date().timeIntervalSince1970)))
    }

    /// The `X-PAYMENT` (x402 v1) value that pays `required`: the same authorization, without the echoed offer.
    func signV1(_ required: X402.PaymentRequired) throws -> String {
        let payment = try payer.pay(required, now: Int64(Date().timeIntervalSince1970))
        let v1 = X402V1.PaymentPayload(scheme: payment.accepted.scheme, network: X402V1.Networks.name(payment.accepted.network),
                                       payload: payment.payload)
        return HeaderCodec.base64(JSONWriter.bytes(v1))
    }
}
