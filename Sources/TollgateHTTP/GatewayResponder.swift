import HTTPTypes
import Hummingbird
import NIOCore
import TollgateCore

/// Serves every request through the gateway pipeline (the reverse proxy of `tollgate serve`).
public struct GatewayResponder: HTTPResponder {
    public typealias Context = TollgateRequestContext

    let gateway: Gateway
    let maxRequestBodyBytes: Int
    let metrics: GatewayMetrics?
    let trustedProxies: TrustedProxies

    /// - Parameters:
    ///   - metrics: counts every response by status class.
    ///   - trustedProxies: the peers allowed to name the client's address (`trusted_proxies`).
    public init(gateway: Gateway, maxRequestBodyBytes: Int, metrics: GatewayMetrics? = nil, trustedProxies: TrustedProxies = .none) {
        self.gateway = gateway
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.metrics = metrics
        self.trustedProxies = trustedProxies
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        let response = try await answer(request, context: context)
        metrics?.countResponse(status: response.status.code)
        return response
    }

    private func answer(_ request: Request, context: Context) async throws -> Response {
        if request.method == .options, request.headers[.accessControlRequestMethod] != nil {
            return Self.preflight(request)
        }
        // A declared length over the limit is refused before anything is read; the body itself is read only
        // once the gateway has decided identity, authorization and admission, and never past the limit.
        let limit = maxRequestBodyBytes
        if let declared = request.headers[.contentLength].flatMap({ Int($0) }), declared > limit {
            return Response(status: .contentTooLarge, headers: [.contentType: "application/json", .connection: "close"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"error":"content_too_large","reason":"request_body_too_large"}"#)))
        }
        let body = request.body
        let answer = await gateway.handle(GatewayRequest(
            method: request.method, target: request.head.path ?? "/", headerFields: request.headers,
            remoteAddress: trustedProxies.clientAddress(peer: context.remoteAddress?.ipAddress, fields: request.headers),
            bodyReader: {
                do {
                    var buffer = try await body.collect(upTo: limit)
                    return buffer.readBytes(length: buffer.readableBytes) ?? []
                } catch {
                    throw RequestBodyTooLarge(limit: limit)
                }
            }))
        let buffer = ByteBuffer(bytes: answer.body)
        guard let settled = answer.settledFlow else {
            return Response(status: answer.status, headers: answer.headerFields, body: .init(byteBuffer: buffer))
        }
        // A settled answer that cannot be written was paid for and not delivered: the gateway records it
        // (and an automatic refund) instead of keeping the money silently.
        let gateway = self.gateway
        return Response(status: answer.status, headers: answer.headerFields, body: .init(contentLength: buffer.readableBytes) { writer in
            do {
                try await writer.write(buffer)
                try await writer.finish(nil)
            } catch {
                await gateway.undelivered(correlationId: settled, detail: "writing the response failed: \(error)")
                throw error
            }
        })
    }

    /// Browsers must be allowed to send the proof header and read the terms and receipt.
    static func preflight(_ request: Request) -> Response {
        var headers = HTTPFields()
        headers[.accessControlAllowOrigin] = request.headers[.origin] ?? "*"
        headers[.accessControlAllowMethods] = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
        headers[.accessControlAllowHeaders] = "PAYMENT-SIGNATURE, X-Api-Key, Authorization, Content-Type"
        headers[.accessControlExposeHeaders] = "PAYMENT-REQUIRED, PAYMENT-RESPONSE, Tollgate-Correlation-Id"
        headers[.accessControlMaxAge] = "600"
        headers[.vary] = "Origin"
        return Response(status: .noContent, headers: headers)
    }
}

/// A request body over `max_request_body_bytes`.
struct RequestBodyTooLarge: Error, CustomStringConvertible {
    let limit: Int
    var description: String { "the request body is larger than \(limit) bytes" }
}
