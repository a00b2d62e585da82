import HTTPTypes
import Hummingbird
import NIOCore
import Synchronization
import TollgateCore

/// How a Hummingbird request enters the gateway and how its answer leaves: the one piece of code shared by the
/// reverse proxy (`GatewayResponder`) and the middleware (`TollgateMiddleware`), so both doors read the client's
/// address, bound the body and protect a settled answer the same way.
struct GatewayDoor: Sendable {
    let gateway: Gateway
    let maxRequestBodyBytes: Int
    let metrics: GatewayMetrics?
    let trustedProxies: TrustedProxies

    static let host = HTTPField.Name("Host")!

    /// The client's address as the gateway sees it: the peer, or the hop a trusted proxy named.
    func clientAddress(_ request: Request, peer: SocketAddress?) -> String? {
        trustedProxies.clientAddress(peer: peer?.ipAddress, fields: request.headers)
    }

    /// Runs the journey for one request; `upstream` replaces the gateway's own for this request (a door's next handler).
    func answer(_ request: Request, peer: SocketAddress?, upstream: (any Upstream)? = nil) async -> Response {
        let response = await journey(request, peer: peer, upstream: upstream)
        metrics?.countResponse(status: response.status.code)
        return response
    }

    private func journey(_ request: Request, peer: SocketAddress?, upstream: (any Upstream)?) async -> Response {
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
        // The first `Host` is the request's authority; one more is left among the fields, and which of the two a backend
        // or a proxy in between reads is anyone's guess (RFC 9112 §3.2: a request with several is refused).
        if request.head.authority != nil, request.headers[Self.host] != nil {
            return Response(status: .badRequest, headers: [.contentType: "application/json", .connection: "close"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"error":"bad_request","reason":"several_hosts"}"#)))
        }
        let body = request.body
        let incoming = GatewayRequest(
            method: request.method, target: request.head.path ?? "/", headerFields: request.headers,
            remoteAddress: clientAddress(request, peer: peer), authority: request.head.authority,
            bodyReader: {
                do {
                    var buffer = try await body.collect(upTo: limit)
                    return buffer.readBytes(length: buffer.readableBytes) ?? []
                } catch {
                    throw RequestBodyTooLarge(limit: limit)
                }
            })
        let answer: GatewayResponse
        if let upstream {
            answer = await gateway.handle(incoming, upstream: upstream)
        } else {
            answer = await gateway.handle(incoming)
        }
        return response(answer, method: request.method)
    }

    /// The gateway's answer as a Hummingbird response. `method`: the request's; the answer to a `HEAD` has no body to
    /// see written (Hummingbird's generated `HEAD` endpoints drop the body of the `GET` they run).
    func response(_ answer: GatewayResponse, method: HTTPRequest.Method = .post) -> Response {
        let buffer = ByteBuffer(bytes: answer.body)
        guard let settled = answer.settledDelivery, method != .head else {
            return Response(status: answer.status, headers: answer.headerFields, body: .init(byteBuffer: buffer))
        }
        // A settled answer that cannot be written was paid for and not delivered: the gateway records it (kept for its
        // owner's retry, or refunded) instead of keeping the money silently.
        let witness = DeliveryWitness(gateway: gateway, delivery: settled)
        return Response(status: answer.status, headers: answer.headerFields, body: .init(contentLength: buffer.readableBytes) { writer in
            do {
                try await writer.write(buffer)
                try await writer.finish(nil)
                witness.written()
            } catch {
                await witness.failed("writing the response failed: \(error)")
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

/// Sees a settled answer's body to the end. Hummingbird writes the head before it asks for the body, and a connection
/// that is gone by then (the client reset it while the upstream or `/settle` ran) fails the head: the body is never
/// asked for, so no write fails where the door could see it. The witness, held by the body, is then released unwritten
/// and tells the gateway, as does a response an outer middleware replaced. Told once, whichever way.
final class DeliveryWitness: Sendable {
    private let gateway: Gateway
    private let delivery: SettledDelivery
    private let told = Atomic<Bool>(false)

    init(gateway: Gateway, delivery: SettledDelivery) {
        self.gateway = gateway
        self.delivery = delivery
    }

    /// The body was written to its end.
    func written() { told.store(true, ordering: .releasing) }

    /// Writing the body failed.
    func failed(_ detail: String) async {
        guard !told.exchange(true, ordering: .acquiringAndReleasing) else { return }
        await gateway.undelivered(delivery, detail: detail)
    }

    deinit {
        guard !told.load(ordering: .acquiring) else { return }
        let gateway = self.gateway, delivery = self.delivery
        // Tracked: a graceful shutdown waits for what the gateway records (the reopening, a refund) before the store closes.
        gateway.afterResponse.start { await gateway.undelivered(delivery, detail: "the response was never written (the connection was gone)") }
    }
}
