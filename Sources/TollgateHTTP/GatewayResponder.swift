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

    /// - Parameter metrics: counts every response by status class.
    public init(gateway: Gateway, maxRequestBodyBytes: Int, metrics: GatewayMetrics? = nil) {
        self.gateway = gateway
        self.maxRequestBodyBytes = maxRequestBodyBytes
        self.metrics = metrics
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
        let body: [UInt8]
        do {
            var buffer = try await request.body.collect(upTo: maxRequestBodyBytes)
            body = buffer.readBytes(length: buffer.readableBytes) ?? []
        } catch {
            return Response(status: .contentTooLarge, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"error":"content_too_large","reason":"request_body_too_large"}"#)))
        }
        let answer = await gateway.handle(GatewayRequest(
            method: request.method, target: request.head.path ?? "/", headerFields: request.headers, body: body,
            remoteAddress: context.remoteAddress?.ipAddress))
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
